#if canImport(Glibc)
import Glibc
#endif
import Testing
@testable import MemoryMonitor
import TestSupport

/// Unknown is a value: a read that fails never becomes a zero, another cgroup's figure, or a
/// level change; a vanished target is an alert, not a "resolved"; OOM counters only go up.
@Suite("Unknown values, vanished targets, OOM kills", .serialized, .offCooperativePool)
struct UnknownValueTests {
    func status(rssMB: Double) -> ProcessStatus { ProcessStatus(name: "app", residentBytes: UInt64(rssMB * 1_048_576)) }
    let host = MemInfo(totalBytes: 1000 << 20, availableBytes: 100 << 20)

    func sample(
        rssMB: Double? = 100, state: Sample.TargetState = .up, host: MemInfo?, unavailable: [String: String] = [:], kills: UInt64 = 0
    ) -> Sample {
        Sample(
            timestamp: WallClock.now(), targetDescription: "pid 7", process: state == .up ? .init(pid: 7, status: status(rssMB: rssMB ?? 0)) : nil,
            targetState: state, host: host, cgroup: nil, cgroupDirectory: kills > 0 ? "/sys/fs/cgroup/app" : nil, newOOMKills: kills,
            hostPressure: nil, allocator: nil, exporter: .init(), unavailable: unavailable)
    }

    @Test func unreadableHostIsUnknownNotZeroAndHoldsLevels() {
        var evaluator = AlertEvaluator(policy: ThresholdPolicy(.init()), forChecks: 1, hysteresisPercent: 5, instance: "h")
        // 90 % used: system_memory critical.
        let fired = evaluator.evaluate(sample(host: host)).alerts
        #expect(fired.map(\.component) == [.systemMemory])
        let unknown = sample(state: .unknown(reason: "/proc/7/status: too many open files (EMFILE)"), host: nil,
                             unavailable: ["host": "/proc/meminfo: too many open files (EMFILE)"])
        #expect(unknown.memoryPercent == nil)
        #expect(unknown.availableMB == nil)
        #expect(unknown.swapPercent == nil)
        #expect(unknown.unavailable["limit"]?.contains("EMFILE") == true)
        // No alert, no resolve: the level holds.
        #expect(evaluator.evaluate(unknown).alerts.isEmpty)
        #expect(evaluator.levels[.systemMemory] == .critical)
        var totals = CheckTotals(startedAt: 0)
        totals.record(unknown)
        let text = String(decoding: ExpositionRenderer.render(CheckFamilies.families(sample: unknown, totals: totals), format: .prometheusText), as: UTF8.self)
        #expect(!text.contains("memory_usage_bytes{component=\"percent\"}"))
        #expect(!text.contains("memory_usage_bytes{component=\"available_mb\"}"))
        #expect(!text.contains("memory_target_up "))
        #expect(text.contains("memory_sample_unavailable{part=\"host\"} 1"))
        let entry = SampleHistory.entry(unknown, checkSeconds: nil)
        #expect(entry.percent == nil && entry.availableMB == nil && entry.swapPercent == nil && entry.rssMB == nil)
    }

    @Test func vanishedTargetFiresTargetAlertAndSupersedesItsLevels() {
        var config = MonitorConfiguration()
        config.thresholds.memoryWarningMB = 50
        var evaluator = AlertEvaluator(policy: ThresholdPolicy(config.thresholds), forChecks: 1, hysteresisPercent: 5, instance: "h")
        let up = evaluator.evaluate(sample(rssMB: 80, host: host))
        #expect(Set(up.alerts.map(\.component)) == [.processMemory, .systemMemory])
        let gone = evaluator.evaluate(sample(state: .gone(reason: "no process with pid 7"), host: host))
        #expect(gone.alerts.count == 1)
        #expect(gone.alerts.first?.component == .target)
        #expect(gone.alerts.first?.status == .firing)
        #expect(!gone.alerts.contains { $0.status == .resolved })
        #expect(Set(gone.superseded) == [.processMemory, .systemMemory])
        #expect(evaluator.levels[.target] == .critical)
        // Still gone: nothing new.
        #expect(evaluator.evaluate(sample(state: .gone(reason: "no process with pid 7"), host: host)).alerts.isEmpty)
        // Back: the target alert resolves and evaluation starts afresh.
        let back = evaluator.evaluate(sample(rssMB: 10, host: MemInfo(totalBytes: 1000 << 20, availableBytes: 900 << 20)))
        #expect(back.alerts.map { "\($0.component.rawValue)/\($0.status.rawValue)" } == ["target/resolved"])
        #expect(evaluator.levels[.target] == nil)
    }

    @Test func dispatcherCountsSupersededNotResolved() {
        let d = AlertDispatcher(configuration: .init(), channels: [], metrics: MonitorMetrics(thresholds: .init()), store: nil, logger: .init(label: "t"))
        var evaluator = AlertEvaluator(policy: ThresholdPolicy(.init()), forChecks: 1, hysteresisPercent: 5, instance: "h")
        let first = evaluator.evaluate(sample(host: host))
        d.dispatch(first.alerts)
        let gone = evaluator.evaluate(sample(state: .gone(reason: "exited"), host: host))
        d.supersede(gone.superseded)
        d.dispatch(gone.alerts)
        let summary = d.summary(hours: 24)
        #expect(summary.resolved == 0)
        #expect(summary.superseded == 1)
        #expect(summary.active == 1)
        #expect(d.activeAlerts.map(\.component) == [.target])
    }

    @Test func oomKillIsAnEmergencyEventAndTheCounterOnlyRises() {
        let metrics = MonitorMetrics(thresholds: .init())
        var evaluator = AlertEvaluator(policy: ThresholdPolicy(.init()), forChecks: 1, hysteresisPercent: 5, instance: "h")
        let killed = sample(state: .gone(reason: "exited"), host: host, kills: 1)
        let alerts = evaluator.evaluate(killed).alerts
        let oom = alerts.first { $0.component == .oom }
        #expect(oom?.severity == .emergency)
        #expect(oom?.status == .firing)
        var totals = CheckTotals(startedAt: 0)
        totals.record(killed)
        #expect(totals.oomKills == 1)
        // A new target in another cgroup (no delta): the counter stays, never goes back to that cgroup's 0.
        totals.record(sample(host: host))
        #expect(totals.oomKills == 1)
        let d = AlertDispatcher(configuration: .init(), channels: [], metrics: metrics, store: nil, logger: .init(label: "t"))
        d.dispatch(alerts)
        #expect(!d.activeAlerts.contains { $0.component == .oom })
    }

    /// A real EMFILE: with every descriptor taken, the sampler reports unknown with the reason,
    /// never zeros or "not found".
    @Test func samplerUnderEMFILEReportsUnknown() throws {
        let sampler = Sampler(target: .ownProcess)
        var original = rlimit()
        getrlimit(Int32(RLIMIT_NOFILE.rawValue), &original)
        var low = original
        low.rlim_cur = 256
        #expect(setrlimit(Int32(RLIMIT_NOFILE.rawValue), &low) == 0)
        var held: [Int32] = []
        while true {
            let fd = open("/dev/null", O_RDONLY | O_CLOEXEC)
            if fd < 0 { break }
            held.append(fd)
            if held.count > 4096 { break }
        }
        let sample = sampler.sample()
        for fd in held { close(fd) }
        setrlimit(Int32(RLIMIT_NOFILE.rawValue), &original)
        #expect(sample.host == nil)
        #expect(sample.unavailable["host"]?.contains("EMFILE") == true)
        #expect(sample.memoryPercent == nil)
        guard case .unknown(let reason) = sample.targetState else { Issue.record("expected unknown, got \(sample.targetState)"); return }
        #expect(reason.contains("EMFILE"))
        // And afterwards everything reads again.
        let after = sampler.sample()
        #expect(after.host != nil)
        #expect(after.targetState == .up)
    }
}
