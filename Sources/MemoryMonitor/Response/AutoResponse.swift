#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import Logging
import NIOPosix
import Synchronization

/// The automatic response (SPEC §8): what the monitor does when a level is reached, and the
/// embedding API it acts through (cache clearers, the admission gate, non-essential tasks,
/// prepare-for-restart hooks).
///
/// A check decides (`ResponsePlanner`, under a lock, never blocking); the actions run in the
/// check loop's task group (`ActionTasks`), so a hung hook or command never holds the check loop
/// or an event loop, and graceful shutdown stops and awaits them. Each action
/// is a `ResponseActionRunner`; this type runs them in order, then logs, counts, lists (`GET
/// /health/actions`) and measures each: resident bytes of the target before and after (after
/// `settle_seconds` for what asks the target).
public final class AutoResponse: Sendable {
    /// Which clean-up clears a cache: `clear_caches` runs `.normal`; `clear_all_caches` runs both.
    public enum CachePriority: Sendable {
        case normal
        /// Kept until an emergency (`clear_all_caches`).
        case important
    }

    /// Why a batch runs, and the figures its actions start from.
    struct Context: Sendable {
        var level: Severity
        var trigger: ActionTrigger
        var alert: Alert?
        var sample: Sample
    }

    struct State: Sendable {
        var planner: ResponsePlanner
        var records: [ActionRecord] = []
        /// Levels whose round of actions is still running: no second round of a level starts meanwhile.
        var runningLevels: Set<Severity> = []
        /// The limit the level asks of the gate (in a dry run it is not applied).
        var decidedLimit: Int
        var actionsRun: UInt64 = 0
        var thresholds: MonitorConfiguration.Thresholds
        /// A change of the target agents' gate limit is on its way.
        var agentGateInFlight = false
        /// Agents this monitor throttled and has not restored: restored at shutdown.
        var throttledAgents: [AgentEndpoint] = []
    }

    /// The rules in force (SIGHUP may change them).
    public var configuration: MonitorConfiguration.AutoResponse { state.withLock { $0.planner.configuration } }
    /// The admission gate an embedding service awaits around its work.
    public let gate: AdmissionGate
    /// The target is the monitor's own process: the in-process actions act.
    package let inProcess: Bool
    let metrics: MonitorMetrics
    let logger: Logger
    /// For `MEMORY_THRESHOLD_MB` and a manual hook's `threshold`.
    var thresholds: MonitorConfiguration.Thresholds { state.withLock { $0.thresholds } }
    private let state: Mutex<State>
    /// Where the actions run: the check loop's task group.
    package let tasks: ActionTasks
    /// What the embedding service registered.
    let hooks = EmbeddingHooks()
    static let recordCapacity = 2000
    private let manualLogLimit = LogRateLimit(burst: 5, windowSeconds: 10)

    init(
        configuration: MonitorConfiguration.AutoResponse, thresholds: MonitorConfiguration.Thresholds, inProcess: Bool, metrics: MonitorMetrics,
        logger: Logger, tasks: ActionTasks = ActionTasks()
    ) {
        self.tasks = tasks
        self.inProcess = inProcess
        self.metrics = metrics
        self.logger = logger
        gate = AdmissionGate(limit: configuration.gate.limit, maxWaiting: configuration.gate.maxWaiting) { metrics.gateRejected.increment() }
        state = Mutex(
            State(
                planner: ResponsePlanner(configuration: configuration, inProcess: inProcess), decidedLimit: configuration.gate.limit,
                thresholds: thresholds))
        metrics.updateGate(gate.status)
    }

    /// New rules (SIGHUP): cooldown clocks and the restart count stay; the gate follows at the next check.
    func reconfigure(_ configuration: MonitorConfiguration.AutoResponse, thresholds: MonitorConfiguration.Thresholds) {
        state.withLock { s in
            s.planner.configuration = configuration
            s.thresholds = thresholds
        }
    }

    // MARK: Embedding API

    /// Registers a cache clearer that `clear_caches` (normal) or `clear_all_caches` (every priority) runs.
    public func addCacheClearer(priority: CachePriority = .normal, _ clear: @escaping @Sendable () -> Void) {
        hooks.addCacheClearer(priority: priority, clear)
    }

    /// Registers work to cancel at emergency (`stop_non_essential`); returns an id for `unregister`.
    @discardableResult
    public func registerNonEssential(cancel: @escaping @Sendable () -> Void) -> UInt64 {
        hooks.registerNonEssential(cancel: cancel)
    }

    /// Registers a task to cancel at emergency (`stop_non_essential`).
    @discardableResult
    public func registerNonEssential<Success: Sendable, Failure: Error>(_ task: Task<Success, Failure>) -> UInt64 {
        registerNonEssential { task.cancel() }
    }

    /// Removes work registered with `registerNonEssential` (it finished).
    public func unregisterNonEssential(_ id: UInt64) { hooks.unregisterNonEssential(id) }

    /// Adds a hook that `prepare_restart` awaits at emergency (flush, checkpoint, stop accepting work).
    public func onPrepareForRestart(_ hook: @escaping @Sendable () async -> Void) { hooks.onPrepareForRestart(hook) }

    /// Recorded actions of the last `seconds`, newest first.
    public func records(lastSeconds seconds: Double) -> [ActionRecord] {
        let since = WallClock.now() - seconds
        return state.withLock { $0.records.filter { $0.timestamp >= since } }.reversed()
    }

    /// Actions that ran and succeeded since start (`gc_collections` in /health/memory).
    package var actionsRun: UInt64 { state.withLock { $0.actionsRun } }

    /// Waits for the actions still running (tests, shutdown).
    package func waitForRunning() async { await tasks.waitForAll() }

    /// Cancels running actions that no check loop owns (after shutdown): hooks and commands are stopped.
    package func cancelRunning() { tasks.cancelAll() }

    /// Keys that have no effect in this mode, for a warning at start.
    package static func sidecarWarnings(_ c: MonitorConfiguration.AutoResponse, inProcess: Bool) -> [String] {
        guard c.enabled, !inProcess else { return [] }
        var warnings: [String] = []
        for (name, level) in [("warning", Severity.warning), ("critical", .critical), ("emergency", .emergency)] {
            guard let a = c.actions(for: level) else { continue }
            let runners = ResponseActionRunners.all.filter { $0.isConfigured(a) || ($0 as? GateRunner)?.shrinksGate(a) == true }
            let inProcessOnly = runners.filter(\.isInProcessOnly).map(\.action.rawValue)
            if !inProcessOnly.isEmpty {
                warnings.append(
                    "auto_response.\(name)_actions: \(inProcessOnly.joined(separator: ", ")) act only inside a service that embeds the library or runs the runtime agent (clients/python); with another process as the target and no agent they are skipped")
            }
            let cleanup = runners.filter(\.isCleanup).map(\.action.rawValue)
            if !cleanup.isEmpty && !a.asksTarget {
                warnings.append(
                    "auto_response.\(name)_actions: \(cleanup.joined(separator: ", ")) ask the target through its runtime agent (clients/python), signal or http_hook; neither signal nor http_hook is set, so without an agent they are skipped")
            }
        }
        return warnings
    }

    // MARK: From a check

    /// Called by each check with the level reached: follows it with the gate, plans the actions
    /// due, starts them on their own task, and returns their names (for the alert's metadata).
    func respond(to context: Context, monitor: MemoryMonitor) -> [ResponseAction] {
        updateGate(level: context.level)
        followAgentGate(level: context.level, sample: context.sample)
        guard context.level > .healthy, case .up = context.sample.targetState else { return [] }
        let now = ContinuousClock.now.secondsSinceReference
        let interval = monitor.configuration.monitoring.checkInterval
        let agentPresent = !(context.sample.runtime?.reachable.isEmpty ?? true)
        // Planned and registered under one lock: a check that a running round's settle wait asks
        // for finds that round and starts none.
        let planned = state.withLock { s -> [ResponsePlanner.Planned] in
            guard !s.runningLevels.contains(context.level) else { return [] }
            let planned = s.planner.plan(level: context.level, now: now, minimumRoundSeconds: interval, agentPresent: agentPresent)
            if !planned.isEmpty { s.runningLevels.insert(context.level) }
            return planned
        }
        if !planned.isEmpty { start(planned, context: context, monitor: monitor) }
        return planned.map(\.action)
    }

    private func start(_ planned: [ResponsePlanner.Planned], context: Context, monitor: MemoryMonitor) {
        tasks.submit { [self] in
            let records = await execute(planned, context: context, monitor: monitor)
            monitor.alerts.annotate(id: context.alert?.id, severity: context.level, autoResponse: Self.summary(records, level: context.level))
            state.withLock { _ = $0.runningLevels.remove(context.level) }
        }
    }

    /// Runs the manual clean-up (`POST /health/actions/gc`): the warning level's clean-up
    /// against the current target. Nil when nothing configured can reach the target.
    func runManual(monitor: MemoryMonitor) async -> [ActionRecord]? {
        let snapshot = await monitor.snapshot(maxAge: .zero)
        let agentPresent = !(snapshot.sample.runtime?.reachable.isEmpty ?? true)
        let planned = state.withLock { $0.planner.manualPlan(agentPresent: agentPresent) }
        guard !planned.isEmpty else { return nil }
        let context = Context(level: .warning, trigger: .manual, alert: nil, sample: snapshot.sample)
        return await execute(planned, context: context, monitor: monitor)
    }

    private func updateGate(level: Severity) {
        guard inProcess else { return }
        // One lock: the level's limit, the previous decision, and whether this is a dry run.
        let (limit, action, previous, dryRun) = state.withLock { s in
            let (limit, action) = s.planner.gateLimit(level: level)
            defer { s.decidedLimit = limit }
            return (limit, action, s.decidedLimit, s.planner.configuration.dryRun)
        }
        if limit != previous {
            if !dryRun { gate.setLimit(limit) }
            if limit < previous, let action {
                let result: ActionResult = dryRun ? .dryRun : .ok
                record(
                    ActionRecord(
                        timestamp: WallClock.now(), level: level, trigger: .auto, action: action, result: result,
                        detail: "admission limit \(previous) → \(limit)", durationSeconds: 0))
            } else {
                logger.notice(
                    "admission gate limit changed", metadata: ["level": "\(level)", "limit": "\(limit)", "previous": "\(previous)", "dry_run": "\(dryRun)"])
            }
        }
        metrics.updateGate(gate.status)
    }

    /// With a sidecar target that has a runtime agent, the agent's gate follows the level as the
    /// embedded gate does: throttled at critical (`throttle_operations`) and emergency
    /// (`emergency_throttle`), restored below. The agent's own report says where its gate is, so
    /// an agent that restarted is throttled again; one change is on its way at a time.
    private func followAgentGate(level: Severity, sample: Sample) {
        guard !inProcess, let runtime = sample.runtime, !runtime.reachable.isEmpty, let total = runtime.total else { return }
        let agents = runtime.reachable.map { AgentEndpoint(pid: $0.pid, socket: $0.socket) }
        let decision = state.withLock { s -> (limit: Int?, action: ResponseAction?, dryRun: Bool, timeout: Double)? in
            guard !s.agentGateInFlight else { return nil }
            let (limit, action) = s.planner.gateLimit(level: level)
            let wanted: Int? = action == nil ? nil : limit
            let actual: Int? = total.gateThrottled ? total.gateLimit : nil
            guard wanted != actual else { return nil }
            if s.planner.configuration.dryRun {
                // Recorded once per decision: remembered as the limit a dry run would have set.
                guard s.decidedLimit != limit else { return nil }
                s.decidedLimit = limit
            } else {
                s.agentGateInFlight = true
            }
            return (wanted, action, s.planner.configuration.dryRun, s.planner.configuration.actionTimeoutSeconds)
        }
        guard let decision else { return }
        let recordedAction: ResponseAction = decision.action ?? (actualAction(total) ?? .throttle)
        let description = decision.limit.map { "limit \($0)" } ?? "the service's own limit"
        let previous = total.gateThrottled ? total.gateLimit.map(String.init) ?? "none" : "the service's own"
        if decision.dryRun {
            record(
                ActionRecord(
                    timestamp: WallClock.now(), level: level, trigger: .auto, action: recordedAction, result: .dryRun,
                    detail: "dry run: would set the target agent's admission gate to \(description)", targetPid: agents.first?.pid, durationSeconds: 0))
            return
        }
        let environment = ActionEnvironment(
            level: level, trigger: .auto, alert: nil, sample: sample, actions: configuration.actions(for: level) ?? configuration.warning,
            timeoutSeconds: decision.timeout, inProcess: false, members: sample.process?.members ?? [], original: sample.process?.members ?? [],
            goneReason: nil, thresholdMB: thresholdMB(level), hooks: hooks, agents: agents)
        tasks.submit { [self] in
            let started = ContinuousClock.now
            let answers: [AgentActions.Answer]
            if let limit = decision.limit {
                answers = await AgentActions.ask(environment, "throttle", ["limit": .number(Double(limit))])
            } else {
                answers = await AgentActions.ask(environment, "restore", [:])
            }
            let failures = answers.compactMap { answer -> String? in
                if case .failure(let failure) = answer.result { return "pid \(answer.pid): \(failure)" }
                return nil
            }
            record(
                ActionRecord(
                    timestamp: WallClock.now(), level: level, trigger: .auto, action: recordedAction, result: failures.isEmpty ? .ok : .failed,
                    detail: "target agent's admission gate \(previous) → \(description)"
                        + (failures.isEmpty ? "" : ": " + failures.joined(separator: "; ")),
                    targetPid: agents.first?.pid, durationSeconds: (ContinuousClock.now - started).seconds))
            let answered = answers.compactMap { answer -> AgentEndpoint? in
                guard case .success = answer.result else { return nil }
                return agents.first { $0.pid == answer.pid }
            }
            state.withLock { s in
                s.agentGateInFlight = false
                if decision.limit != nil {
                    s.throttledAgents = answered
                } else {
                    s.throttledAgents.removeAll { a in answered.contains(a) }
                }
            }
        }
    }

    /// At shutdown: the agents this monitor throttled get their own limit back, so a service is
    /// never left throttled by a monitor that has gone (each within a second).
    package func releaseAgentGates() async {
        let agents = state.withLock { s -> [AgentEndpoint] in
            defer { s.throttledAgents = [] }
            return s.throttledAgents
        }
        for agent in agents {
            let result = try? await NIOThreadPool.singleton.runIfActive {
                UnixHTTP.request(agent.socket, method: "POST", path: "/actions/restore?wait=1", body: [:], timeout: 1)
            }
            switch result {
            case .success(let answer)? where answer.status == 200:
                logger.notice("target agent's admission gate restored at shutdown", metadata: ["target_pid": "\(agent.pid)"])
            default:
                logger.warning("target agent's admission gate could not be restored at shutdown", metadata: ["target_pid": "\(agent.pid)"])
            }
        }
    }

    /// The throttle the agent's report says is in force (for the record of a restore).
    private func actualAction(_ total: RuntimeReport) -> ResponseAction? {
        guard total.gateThrottled, let limit = total.gateLimit else { return nil }
        return limit == configuration.gate.criticalLimit ? .throttle : .emergencyThrottle
    }

    // MARK: Running actions

    /// Runs the planned actions in order, each measured; returns their records.
    ///
    /// The processes acted on are those of the sample the level was reached in. After an action
    /// that waits for the target to settle, a fresh sample says who is still there: a process
    /// that has gone is dropped (never replaced by whatever holds its pid now), and a restart
    /// goes only to processes that were part of the target when the level was reached.
    func execute(_ planned: [ResponsePlanner.Planned], context: Context, monitor: MemoryMonitor) async -> [ActionRecord] {
        var records: [ActionRecord] = []
        var residentNow = context.sample.process?.status.residentBytes
        let c = configuration
        let original = context.sample.process?.members ?? []
        var environment = ActionEnvironment(
            level: context.level, trigger: context.trigger, alert: context.alert, sample: context.sample,
            actions: c.actions(for: context.level) ?? c.warning, timeoutSeconds: c.actionTimeoutSeconds, inProcess: inProcess, members: original,
            original: original, goneReason: nil, thresholdMB: thresholdMB(context.level), hooks: hooks,
            agents: (context.sample.runtime?.reachable ?? []).map { AgentEndpoint(pid: $0.pid, socket: $0.socket) })
        if case .gone(let reason) = context.sample.targetState { environment.goneReason = reason }
        for item in planned {
            if Task.isCancelled { break }
            let runner = ResponseActionRunners.runner(for: item.action)
            let clock = ContinuousClock()
            let started = clock.now
            var r = ActionRecord(
                timestamp: WallClock.now(), level: context.level, trigger: context.trigger, action: item.action, result: .ok, detail: "",
                targetPid: environment.members.first?.pid, durationSeconds: 0)
            switch item.decision {
            case .skip(let reason):
                r.result = .skipped
                r.detail = reason
            case .refuse(let reason):
                r.result = .skipped
                r.detail = reason
                raiseRestartRefused(reason, context: context, monitor: monitor)
            case .dryRun:
                r.result = .dryRun
                r.detail = "dry run: would " + runner.intent(environment)
            case .run where runner.asksTarget || environment.viaAgent:
                r.residentBytesBefore = residentNow
                let outcome = await runner.perform(environment)
                (r.result, r.detail) = (outcome.result, outcome.detail)
                (r.objectsBefore, r.objectsAfter, r.collectedObjects) = (outcome.objectsBefore, outcome.objectsAfter, outcome.collectedObjects)
                if r.result == .ok || r.result == .failed {
                    if c.settleSeconds > 0 { try? await Task.sleep(for: .seconds(c.settleSeconds)) }
                    let after = await monitor.snapshot(maxAge: .zero).sample
                    r.residentBytesAfter = after.process?.status.residentBytes
                    residentNow = r.residentBytesAfter
                    switch after.targetState {
                    case .up: environment.members = after.process?.members ?? []
                    case .gone(let reason):
                        environment.members = []
                        environment.goneReason = reason
                    case .unknown: break  // each send proves its process's identity again
                    }
                }
            case .run:
                // In the monitor's own process: measured at once, the heap too.
                r.residentBytesBefore = Sampler.ownResidentBytes()
                r.heapBytesBefore = AllocatorStatistics.current().inUseBytes
                (r.result, r.detail) = await runner.perform(environment).resultAndDetail
                r.residentBytesAfter = Sampler.ownResidentBytes()
                r.heapBytesAfter = AllocatorStatistics.current().inUseBytes
                if r.residentBytesAfter != nil { residentNow = r.residentBytesAfter }
            }
            r.durationSeconds = (clock.now - started).seconds
            record(r)
            records.append(r)
        }
        return records
    }

    private func thresholdMB(_ level: Severity) -> Double {
        let t = thresholds
        switch level {
        case .emergency: return t.memoryEmergencyMB
        case .critical: return t.memoryCriticalMB
        default: return t.memoryWarningMB
        }
    }

    // MARK: Accounting

    private func record(_ r: ActionRecord) {
        state.withLock { s in
            s.records.append(r)
            if r.result == .ok { s.actionsRun += 1 }
            if s.records.count > Self.recordCapacity { s.records.removeFirst(s.records.count - Self.recordCapacity) }
        }
        let level = r.trigger == .manual ? "manual" : r.level.description
        metrics.autoResponseActions.increment(level, r.action.rawValue, r.result.rawValue)
        if r.result == .ok || r.result == .failed { metrics.cleanupOperations.increment() }
        if r.result == .ok, let reclaimed = r.reclaimedBytes { metrics.reclaimedBytes.increment(by: Double(reclaimed), r.action.rawValue) }
        if r.result == .ok, let collected = r.collectedObjects { metrics.reclaimedObjects.increment(by: Double(collected), r.action.rawValue) }
        var metadata: Logger.Metadata = [
            "level": "\(level)", "action": "\(r.action.rawValue)", "result": "\(r.result.rawValue)", "detail": "\(r.detail)",
            "duration_seconds": "\(JSONValue.format((r.durationSeconds * 1000).rounded() / 1000))",
        ]
        if let pid = r.targetPid { metadata["target_pid"] = "\(pid)" }
        if let before = r.residentBytesBefore { metadata["rss_before_bytes"] = "\(before)" }
        if let after = r.residentBytesAfter { metadata["rss_after_bytes"] = "\(after)" }
        if let reclaimed = r.reclaimedBytes { metadata["reclaimed_bytes"] = "\(reclaimed)" }
        if let collected = r.collectedObjects { metadata["collected_objects"] = "\(collected)" }
        // Manual clean-ups come from requests: a flood of them must not flood the log.
        if r.trigger == .manual {
            let (allowed, held) = manualLogLimit.allow("manual")
            guard allowed else { return }
            if held > 0 { metadata["log_lines_held_back"] = "\(held)" }
        }
        switch r.result {
        case .ok, .dryRun: logger.notice("auto-response action", metadata: metadata)
        case .skipped: logger.warning("auto-response action skipped", metadata: metadata)
        case .failed: logger.error("auto-response action failed", metadata: metadata)
        }
    }

    private func raiseRestartRefused(_ reason: String, context: Context, monitor: MemoryMonitor) {
        // The router rate limits it like any alert (memory_alerts_rate_limited{component="auto_response"}).
        let restart = configuration.actions(for: context.level)?.restart ?? MonitorConfiguration.Restart()
        var alert = Alert(
            id: AlertEvaluator.newID(), timestamp: WallClock.now(), severity: .critical, component: .autoResponse, status: .firing,
            memoryUsage: Double(restart.maxPerHour), threshold: Double(restart.maxPerHour),
            message: "CRITICAL: \(reason); the target keeps running and needs a person", instance: monitor.instance,
            targetDescription: context.sample.targetDescription, targetPid: context.sample.process?.pid,
            targetName: context.sample.process?.status.name, percent: context.sample.memoryPercent, availableMB: context.sample.availableMB)
        alert.autoResponse = ["action": "restart", "result": "skipped", "reason": .string(reason)]
        monitor.alerts.dispatch([alert])
    }

    /// `metadata.auto_response` after a batch: what ran and what it reclaimed.
    static func summary(_ records: [ActionRecord], level: Severity) -> JSONValue {
        let reclaimed = records.compactMap { $0.result == .ok ? $0.reclaimedBytes : nil }.reduce(0, +)
        return [
            "level": .string(level.description),
            "actions": .array(
                records.map {
                    [
                        "action": .string($0.action.rawValue), "result": .string($0.result.rawValue),
                        "reclaimed_bytes": $0.reclaimedBytes.map { .number(Double($0)) } ?? .null,
                        "collected_objects": $0.collectedObjects.map { .number(Double($0)) } ?? .null,
                    ]
                }),
            "reclaimed_bytes": .number(Double(reclaimed)),
        ]
    }

    /// The planned actions, for the firing alert's metadata before they run.
    static func plannedSummary(_ actions: [ResponseAction], level: Severity, dryRun: Bool) -> JSONValue {
        [
            "level": .string(level.description), "planned": .array(actions.map { .string($0.rawValue) }), "dry_run": .bool(dryRun),
            "results": "GET /health/actions",
        ]
    }
}

extension ContinuousClock.Instant {
    /// Seconds since an arbitrary fixed point: a monotonic number for cooldowns.
    package var secondsSinceReference: Double {
        (self - ContinuousClock.Instant.reference).seconds
    }

    static let reference = ContinuousClock.now
}
