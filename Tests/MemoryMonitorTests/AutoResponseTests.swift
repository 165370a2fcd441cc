import Synchronization
import TestSupport
import Testing
@testable import MemoryMonitor

@Suite("Automatic response: planning", .offCooperativePool)
struct ResponsePlannerTests {
    typealias Planned = ResponsePlanner.Planned

    @Test func cooldownIsPerActionAndLevel() {
        var c = MonitorConfiguration.AutoResponse()
        c.cooldownSeconds = 60
        var planner = ResponsePlanner(configuration: c, inProcess: true)
        #expect(planner.plan(level: .warning, now: 0).map(\.action) == [.forceGC])
        #expect(planner.plan(level: .warning, now: 59).isEmpty)
        // Another level has its own cooldown.
        #expect(planner.plan(level: .critical, now: 30).map(\.action) == [.forceGC, .clearCaches])
        #expect(planner.plan(level: .warning, now: 60).map(\.action) == [.forceGC])
        #expect(planner.plan(level: .healthy, now: 500).isEmpty)
    }

    @Test func theRestartGuardRefusesALoop() {
        var c = MonitorConfiguration.AutoResponse()
        c.cooldownSeconds = 0
        c.emergency = .init(restart: .init(maxPerHour: 3, windowSeconds: 100))
        var planner = ResponsePlanner(configuration: c, inProcess: false)
        for t in [0.0, 1, 2] { #expect(planner.plan(level: .emergency, now: t) == [Planned(action: .restart, decision: .run)]) }
        let fourth = planner.plan(level: .emergency, now: 3)
        guard case .refuse(let reason) = fourth.first?.decision else {
            Issue.record("the fourth restart was not refused: \(fourth)")
            return
        }
        #expect(reason.hasPrefix("restart loop refused: 3 restarts in the last 100 s"))
        // The window slides: the first restart is 100 s old at t = 100.
        #expect(planner.plan(level: .emergency, now: 100) == [Planned(action: .restart, decision: .run)])
    }

    @Test func dryRunPlansButCountsNoRestart() {
        var c = MonitorConfiguration.AutoResponse()
        c.dryRun = true
        c.cooldownSeconds = 0
        c.critical = .init(signal: NamedSignal.cleanupSignals[0], restart: .init(maxPerHour: 1))
        var planner = ResponsePlanner(configuration: c, inProcess: false)
        for t in [0.0, 1, 2] {
            #expect(planner.plan(level: .critical, now: t) == [Planned(action: .signal, decision: .dryRun), Planned(action: .restart, decision: .dryRun)])
        }
        #expect(planner.restarts.isEmpty)
    }

    @Test func aSidecarAsksTheTargetOrSaysWhyNot() {
        var c = MonitorConfiguration.AutoResponse()
        c.warning = .init(forceGC: true, clearCaches: true, signal: NamedSignal.cleanupSignals[0])
        var planner = ResponsePlanner(configuration: c, inProcess: false)
        // force_gc and clear_caches fold into the signal that carries them.
        #expect(planner.plan(level: .warning, now: 0) == [Planned(action: .signal, decision: .run)])
        // Critical has force_gc and clear_caches but no signal or hook: skipped, with the reason.
        let critical = planner.plan(level: .critical, now: 0)
        #expect(critical.map(\.action) == [.forceGC, .clearCaches])
        for p in critical {
            guard case .skip(let reason) = p.decision else { Issue.record("not skipped: \(p)"); continue }
            #expect(reason.contains("critical_actions sets neither"))
        }
        // In-process-only actions are skipped in a sidecar.
        let emergency = planner.plan(level: .emergency, now: 0)
        #expect(emergency.contains { p in p.action == .stopNonEssential && { if case .skip = p.decision { true } else { false } }() })
        let warnings = AutoResponse.sidecarWarnings(c, inProcess: false)
        #expect(warnings.contains { $0.contains("critical_actions: throttle_operations act only inside") })
        #expect(AutoResponse.sidecarWarnings(c, inProcess: true).isEmpty)
    }

    @Test func theManualPlanIsTheWarningCleanUp() {
        var c = MonitorConfiguration.AutoResponse()
        #expect(ResponsePlanner(configuration: c, inProcess: true).manualPlan().map(\.action) == [.forceGC])
        #expect(ResponsePlanner(configuration: c, inProcess: false).manualPlan().isEmpty)
        c.warning.httpHook = "http://127.0.0.1:1/hook"
        c.warning.command = ["/bin/true"]
        #expect(ResponsePlanner(configuration: c, inProcess: false).manualPlan().map(\.action) == [.httpHook])
    }

    @Test func theGateFollowsTheLevel() {
        let c = MonitorConfiguration.AutoResponse()
        let planner = ResponsePlanner(configuration: c, inProcess: true)
        #expect(planner.gateLimit(level: .healthy).limit == 64)
        #expect(planner.gateLimit(level: .warning).limit == 64)
        #expect(planner.gateLimit(level: .critical) == (16, .throttle))
        #expect(planner.gateLimit(level: .emergency) == (4, .emergencyThrottle))
    }

    @Test func theHandlerMaskIsRead() {
        let status = "Name:\tpython3\nSigBlk:\t0000000000000000\nSigIgn:\t0000000001001000\nSigCgt:\t0000000100004200\n"
        let mask = TargetSignal.caughtMask(status)
        #expect(mask == 0x1_0000_4200)
        // SIGUSR1 is 10: bit 9 (0x200) is set; SIGUSR2 (12, bit 11) is not.
        #expect(mask.map { $0 & (1 << 9) != 0 } == true)
        #expect(mask.map { $0 & (1 << 11) != 0 } == false)
        #expect(TargetSignal.caughtMask("Name:\tx\n") == nil)
    }
}

@Suite("Automatic response: the embedded API", .offCooperativePool)
struct EmbeddedResponseTests {
    func sample(rssMB: Double) -> Sample {
        let status = ProcessStatus(name: "self", residentBytes: UInt64(rssMB * 1_048_576), virtualBytes: 1 << 30)
        return Sample.fixture(targetDescription: "own process", status: status, host: nil)
    }

    /// Critical shrinks the gate and clears normal caches; emergency shrinks it more, clears every
    /// cache, cancels non-essential tasks and calls the prepare-for-restart hook; healthy restores it.
    @Test func levelsActThroughTheEmbeddingAPI() async throws {
        let monitor = MemoryMonitor(configuration: MonitorConfiguration())
        let response = monitor.autoResponse
        let normal = Counter()
        let important = Counter()
        let prepared = Counter()
        response.addCacheClearer(priority: .normal) { normal.bump() }
        response.addCacheClearer(priority: .important) { important.bump() }
        response.onPrepareForRestart { prepared.bump() }
        let background = Task { try await Task.sleep(for: .seconds(600)) }
        response.registerNonEssential(background)

        _ = response.respond(to: .init(level: .critical, trigger: .auto, alert: nil, sample: sample(rssMB: 50)), monitor: monitor)
        await response.waitForRunning()
        #expect(monitor.gate.status.limit == 16)
        #expect(normal.value == 1 && important.value == 0)
        #expect(!background.isCancelled)

        let planned = response.respond(to: .init(level: .emergency, trigger: .auto, alert: nil, sample: sample(rssMB: 60)), monitor: monitor)
        #expect(planned == [.forceGC, .clearAllCaches, .stopNonEssential, .prepareRestart])
        await response.waitForRunning()
        #expect(monitor.gate.status.limit == 4)
        #expect(normal.value == 2 && important.value == 1)
        #expect(background.isCancelled)
        #expect(prepared.value == 1)
        #expect(monitor.metrics.gateLimit.value() == 4)

        _ = response.respond(to: .init(level: .healthy, trigger: .auto, alert: nil, sample: sample(rssMB: 10)), monitor: monitor)
        #expect(monitor.gate.status.limit == 64)
        let records = response.records(lastSeconds: 60)
        #expect(records.contains { $0.action == .emergencyThrottle && $0.detail == "admission limit 16 → 4" })
        #expect(records.contains { $0.action == .throttle && $0.detail == "admission limit 64 → 16" })
        #expect(records.first { $0.action == .forceGC && $0.level == .emergency }?.detail.hasPrefix("malloc_trim ran 3 time(s)") == true)
        #expect(records.allSatisfy { $0.result == .ok })
        #expect(monitor.metrics.autoResponseActions.value("emergency", "stop_non_essential", "ok") == 1)
    }

    @Test func dryRunChangesNothing() async {
        var configuration = MonitorConfiguration()
        configuration.autoResponse.dryRun = true
        let monitor = MemoryMonitor(configuration: configuration)
        let cleared = Counter()
        monitor.autoResponse.addCacheClearer(priority: .normal) { cleared.bump() }
        _ = monitor.autoResponse.respond(to: .init(level: .emergency, trigger: .auto, alert: nil, sample: sample(rssMB: 60)), monitor: monitor)
        await monitor.autoResponse.waitForRunning()
        #expect(cleared.value == 0)
        #expect(monitor.gate.status.limit == 64)
        let records = monitor.autoResponse.records(lastSeconds: 60)
        #expect(!records.isEmpty && records.allSatisfy { $0.result == .dryRun })
        #expect(records.contains { $0.detail == "dry run: would run every cache clearer" })
        #expect(monitor.metrics.cleanupOperations.value() == 0)
    }

    @Test func disabledDoesNothing() async {
        var configuration = MonitorConfiguration()
        configuration.autoResponseEnabled = false
        let monitor = MemoryMonitor(configuration: configuration)
        let planned = monitor.autoResponse.respond(to: .init(level: .emergency, trigger: .auto, alert: nil, sample: sample(rssMB: 60)), monitor: monitor)
        await monitor.autoResponse.waitForRunning()
        #expect(planned.isEmpty)
        #expect(monitor.gate.status.limit == 64)
        #expect(monitor.autoResponse.records(lastSeconds: 60).isEmpty)
    }

    @Test func theGateAdmitsWaitsRejectsAndCancels() async throws {
        let rejected = Counter()
        let gate = AdmissionGate(limit: 2, maxWaiting: 1) { rejected.bump() }
        let release = AsyncStream<Void>.makeStream()
        let started = Counter()
        // Two run, holding the gate until `release` finishes.
        let holders = (0..<2).map { _ in
            Task {
                try await gate.admit {
                    started.bump()
                    for await _ in release.stream {}
                }
            }
        }
        #expect(await poll { gate.status.inFlight == 2 })
        let waiter = Task { try await gate.admit { started.bump() } }
        #expect(await poll { gate.status.waiting == 1 })
        // One more than max_waiting is rejected at once.
        await #expect(throws: AdmissionGate.Rejected.self) { try await gate.admit {} }
        #expect(rejected.value == 1)
        // A waiter that is cancelled leaves the queue.
        waiter.cancel()
        await #expect(throws: CancellationError.self) { try await waiter.value }
        #expect(gate.status.waiting == 0)
        // Shrinking does not stop admitted work; growing admits waiters.
        gate.setLimit(1)
        let late = Task { try await gate.admit { started.bump() } }
        #expect(await poll { gate.status.waiting == 1 })
        release.continuation.finish()
        for holder in holders { try await holder.value }
        try await late.value
        #expect(started.value == 3)
        #expect(gate.status == .init(limit: 1, inFlight: 0, waiting: 0, rejected: 1))
    }

}

@Suite("Log rate limit", .offCooperativePool)
struct LogRateLimitTests {
    @Test func aBurstPassesThenLinesAreCountedAndReported() {
        let limit = LogRateLimit(burst: 3, windowSeconds: 10)
        #expect((0..<3).allSatisfy { _ in limit.allow("k", now: 0).allowed })
        #expect((0..<100).allSatisfy { _ in !limit.allow("k", now: 5).allowed })
        #expect(limit.allow("other", now: 5).allowed)
        let next = limit.allow("k", now: 10)
        #expect(next.allowed && next.suppressedBefore == 100)
    }
}
