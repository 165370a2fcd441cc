#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import AsyncHTTPClient
import Logging
import NIOCore
import Synchronization

/// The automatic response (SPEC §8): what the monitor does when a level is reached, and the
/// embedding API it acts through (cache clearers, the admission gate, non-essential tasks,
/// prepare-for-restart hooks).
///
/// A check decides (`ResponsePlanner`, under a lock, never blocking); the actions run on their
/// own task, so a hung hook or command never holds the check loop or an event loop. Every
/// action is logged, counted, listed by `GET /health/actions` and measured: resident bytes of
/// the target before and after (after `settle_seconds` for what asks the target).
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
        var clearers: [(priority: CachePriority, clear: @Sendable () -> Void)] = []
        var nonEssential: [UInt64: @Sendable () -> Void] = [:]
        var prepareHooks: [@Sendable () async -> Void] = []
        var nextID: UInt64 = 0
        var running: [UInt64: Task<Void, Never>] = [:]
        /// Levels whose round of actions is still running: no second round of a level starts meanwhile.
        var runningLevels: Set<Severity> = []
        /// The limit the level asks of the gate (in a dry run it is not applied).
        var decidedLimit: Int
        var actionsRun: UInt64 = 0
        var thresholds: MonitorConfiguration.Thresholds
    }

    /// The rules in force (SIGHUP may change them).
    public var configuration: MonitorConfiguration.AutoResponse { state.withLock { $0.planner.configuration } }
    /// The admission gate an embedding service awaits around its work.
    public let gate: AdmissionGate
    /// The target is the monitor's own process: the in-process actions act.
    public let inProcess: Bool
    let metrics: MonitorMetrics
    let logger: Logger
    /// For `MEMORY_THRESHOLD_MB` and a manual hook's `threshold`.
    var thresholds: MonitorConfiguration.Thresholds { state.withLock { $0.thresholds } }
    private let state: Mutex<State>
    static let recordCapacity = 2000
    private let manualLogLimit = LogRateLimit(burst: 5, windowSeconds: 10)

    init(
        configuration: MonitorConfiguration.AutoResponse, thresholds: MonitorConfiguration.Thresholds, inProcess: Bool, metrics: MonitorMetrics,
        logger: Logger
    ) {
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
        state.withLock { $0.clearers.append((priority, clear)) }
    }

    /// Registers work to cancel at emergency (`stop_non_essential`); returns an id for `unregister`.
    @discardableResult
    public func registerNonEssential(cancel: @escaping @Sendable () -> Void) -> UInt64 {
        state.withLock { s in
            s.nextID += 1
            s.nonEssential[s.nextID] = cancel
            return s.nextID
        }
    }

    /// Registers a task to cancel at emergency (`stop_non_essential`).
    @discardableResult
    public func registerNonEssential<Success: Sendable, Failure: Error>(_ task: Task<Success, Failure>) -> UInt64 {
        registerNonEssential { task.cancel() }
    }

    /// Removes work registered with `registerNonEssential` (it finished).
    public func unregisterNonEssential(_ id: UInt64) {
        _ = state.withLock { $0.nonEssential.removeValue(forKey: id) }
    }

    /// Adds a hook that `prepare_restart` awaits at emergency (flush, checkpoint, stop accepting work).
    public func onPrepareForRestart(_ hook: @escaping @Sendable () async -> Void) {
        state.withLock { $0.prepareHooks.append(hook) }
    }

    /// Recorded actions of the last `seconds`, newest first.
    public func records(lastSeconds seconds: Double) -> [ActionRecord] {
        let since = WallClock.now() - seconds
        return state.withLock { $0.records.filter { $0.timestamp >= since } }.reversed()
    }

    /// Actions that ran and succeeded since start (`gc_collections` in /health/memory).
    public var actionsRun: UInt64 { state.withLock { $0.actionsRun } }

    /// Waits for the actions still running (tests, shutdown).
    public func waitForRunning() async {
        while let task = state.withLock({ $0.running.values.first }) { await task.value }
    }

    /// Cancels running actions (graceful shutdown): hooks and commands are stopped.
    public func cancelRunning() {
        for task in state.withLock({ Array($0.running.values) }) { task.cancel() }
    }

    /// Keys that have no effect in this mode, for a warning at start.
    public static func sidecarWarnings(_ c: MonitorConfiguration.AutoResponse, inProcess: Bool) -> [String] {
        guard c.enabled, !inProcess else { return [] }
        var warnings: [String] = []
        for (name, level) in [("warning", Severity.warning), ("critical", .critical), ("emergency", .emergency)] {
            guard let a = c.actions(for: level) else { continue }
            var inProcessOnly = ResponsePlanner.configured(a).filter(\.isInProcessOnly).map(\.rawValue)
            if a.throttle { inProcessOnly.append("throttle_operations") }
            if a.emergencyThrottle { inProcessOnly.append("emergency_throttle") }
            if !inProcessOnly.isEmpty {
                warnings.append(
                    "auto_response.\(name)_actions: \(inProcessOnly.joined(separator: ", ")) act only inside a service that embeds the library; with another process as the target they are skipped")
            }
            let cleanup = ResponsePlanner.configured(a).filter(\.isCleanup).map(\.rawValue)
            if !cleanup.isEmpty && !a.asksTarget {
                warnings.append(
                    "auto_response.\(name)_actions: \(cleanup.joined(separator: ", ")) ask the target through signal or http_hook, and neither is set: they are skipped")
            }
        }
        return warnings
    }

    // MARK: From a check

    /// Called by each check with the level reached: follows it with the gate, plans the actions
    /// due, starts them on their own task, and returns their names (for the alert's metadata).
    func respond(to context: Context, monitor: MemoryMonitor) -> [ResponseAction] {
        updateGate(level: context.level)
        guard context.level > .healthy, case .up = context.sample.targetState else { return [] }
        let now = ContinuousClock.now.secondsSinceReference
        let interval = monitor.configuration.monitoring.checkInterval
        // Planned and registered under one lock: a check that a running round's settle wait asks
        // for finds that round and starts none.
        let planned = state.withLock { s -> [ResponsePlanner.Planned] in
            guard !s.runningLevels.contains(context.level) else { return [] }
            let planned = s.planner.plan(level: context.level, now: now, minimumRoundSeconds: interval)
            if !planned.isEmpty { start(planned, context: context, monitor: monitor, state: &s) }
            return planned
        }
        return planned.map(\.action)
    }

    private func start(_ planned: [ResponsePlanner.Planned], context: Context, monitor: MemoryMonitor, state s: inout State) {
        // Registered under the lock that the task's own removal takes, so it is never left behind.
        s.nextID += 1
        let id = s.nextID
        s.runningLevels.insert(context.level)
        s.running[id] = Task { [self] in
            let records = await execute(planned, context: context, monitor: monitor)
            monitor.alerts.annotate(id: context.alert?.id, severity: context.level, autoResponse: Self.summary(records, level: context.level))
            state.withLock { s in
                s.running.removeValue(forKey: id)
                s.runningLevels.remove(context.level)
            }
        }
    }

    /// Runs the manual clean-up (`POST /health/actions/gc`): the warning level's clean-up
    /// against the current target. Nil when nothing configured can reach the target.
    func runManual(monitor: MemoryMonitor) async -> [ActionRecord]? {
        let planned = state.withLock { $0.planner.manualPlan() }
        guard !planned.isEmpty else { return nil }
        let snapshot = await monitor.snapshot(maxAge: .zero)
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
        let original = context.sample.process?.members ?? []
        var members = original
        var goneReason: String?
        if case .gone(let reason) = context.sample.targetState { goneReason = reason }
        for item in planned {
            if Task.isCancelled { break }
            let clock = ContinuousClock()
            let started = clock.now
            let pids = members.map(\.pid)
            var r = ActionRecord(
                timestamp: WallClock.now(), level: context.level, trigger: context.trigger, action: item.action, result: .ok, detail: "",
                targetPid: pids.first, durationSeconds: 0)
            switch item.decision {
            case .skip(let reason):
                r.result = .skipped
                r.detail = reason
                if item.action == .restart, reason.hasPrefix("restart loop") { raiseRestartRefused(reason, context: context, monitor: monitor) }
            case .dryRun:
                r.result = .dryRun
                r.detail = "dry run: would " + describe(item.action, context: context, members: members)
            case .run:
                if item.action.settles {
                    r.residentBytesBefore = residentNow
                    (r.result, r.detail) = await runAsking(item.action, context: context, members: members, original: original, goneReason: goneReason)
                    if r.result == .ok || r.result == .failed {
                        if configuration.settleSeconds > 0 { try? await Task.sleep(for: .seconds(configuration.settleSeconds)) }
                        let after = await monitor.snapshot(maxAge: .zero).sample
                        r.residentBytesAfter = after.process?.status.residentBytes
                        residentNow = r.residentBytesAfter
                        switch after.targetState {
                        case .up: members = after.process?.members ?? []
                        case .gone(let reason):
                            members = []
                            goneReason = reason
                        case .unknown: break  // each send proves its process's identity again
                        }
                    }
                } else {
                    (r.result, r.detail, r.residentBytesBefore, r.residentBytesAfter, r.heapBytesBefore, r.heapBytesAfter) =
                        await runInProcess(item.action, context: context)
                    if r.residentBytesAfter != nil { residentNow = r.residentBytesAfter }
                }
            }
            r.durationSeconds = (clock.now - started).seconds
            record(r)
            records.append(r)
        }
        return records
    }

    /// Who in the target a signal reaches: a clean-up signal goes to the leaves (the workers
    /// themselves, not the wrappers that would forward it to children without a handler); a
    /// restart goes to the roots (the wrapper or pre-fork master, which stops its children).
    static func recipients(of action: ResponseAction, in members: [Sample.TargetProcess.Member]) -> [Sample.TargetProcess.Member] {
        switch action {
        case .restart: members.filter(\.isRoot)
        default: members.filter(\.isLeaf)
        }
    }

    private func describe(_ action: ResponseAction, context: Context, members: [Sample.TargetProcess.Member]) -> String {
        let a = configuration.actions(for: context.level) ?? configuration.warning
        let recipients = Self.recipients(of: action, in: members).map { String($0.pid) }.joined(separator: ",")
        switch action {
        case .forceGC: return "run malloc_trim \(a.gcCycles) time(s)"
        case .clearCaches: return "run the normal-priority cache clearers"
        case .clearAllCaches: return "run every cache clearer"
        case .throttle, .emergencyThrottle: return "shrink the admission gate"
        case .stopNonEssential: return "cancel the non-essential tasks"
        case .prepareRestart: return "call the prepare-for-restart hooks"
        case .signal: return "send \(a.signal?.name ?? "?") to pid \(recipients)"
        case .httpHook: return "POST the alert to the http_hook"
        case .command: return "run \(a.command?.first ?? "?")"
        case .restart: return "send \(a.restart?.signal.name ?? "?") to pid \(recipients)"
        }
    }

    private func runInProcess(_ action: ResponseAction, context: Context) async
        -> (ActionResult, String, UInt64?, UInt64?, UInt64?, UInt64?)
    {
        let a = configuration.actions(for: context.level) ?? configuration.warning
        let rssBefore = Self.ownResidentBytes()
        let heapBefore = AllocatorStatistics.current().inUseBytes
        let detail: String
        switch action {
        case .forceGC:
            let cycles = context.trigger == .manual ? 1 : a.gcCycles
            var released = false
            for _ in 0..<cycles { released = AllocatorStatistics.trim() || released }
            detail = "malloc_trim ran \(cycles) time(s)\(released ? "" : "; nothing was returned to the kernel")"
        case .clearCaches, .clearAllCaches:
            let all = action == .clearAllCaches
            let clearers = state.withLock { $0.clearers }.filter { all || $0.priority == .normal }
            for clearer in clearers { clearer.clear() }
            detail = "\(clearers.count) cache clearer(s) ran"
        case .stopNonEssential:
            let cancels = state.withLock { s -> [@Sendable () -> Void] in
                defer { s.nonEssential.removeAll() }
                return Array(s.nonEssential.values)
            }
            for cancel in cancels { cancel() }
            detail = "\(cancels.count) non-essential task(s) cancelled"
        case .prepareRestart:
            let hooks = state.withLock { $0.prepareHooks }
            var timedOut = 0
            for hook in hooks {
                do { try await withTimeout(seconds: configuration.actionTimeoutSeconds) { await hook() } } catch { timedOut += 1 }
            }
            if timedOut > 0 {
                return (.failed, "\(timedOut) of \(hooks.count) prepare-for-restart hook(s) ran past \(JSONValue.format(configuration.actionTimeoutSeconds)) s", rssBefore, Self.ownResidentBytes(), heapBefore, AllocatorStatistics.current().inUseBytes)
            }
            detail = "\(hooks.count) prepare-for-restart hook(s) ran"
        default:
            detail = ""
        }
        return (.ok, detail, rssBefore, Self.ownResidentBytes(), heapBefore, AllocatorStatistics.current().inUseBytes)
    }

    private func runAsking(
        _ action: ResponseAction, context: Context, members: [Sample.TargetProcess.Member], original: [Sample.TargetProcess.Member],
        goneReason: String?
    ) async -> (ActionResult, String) {
        let a = configuration.actions(for: context.level) ?? configuration.warning
        let pids = members.map(\.pid)
        if members.isEmpty && (action == .signal || action == .restart) {
            return (.skipped, "the target is gone (\(goneReason ?? "no process")); nothing is signalled")
        }
        switch action {
        case .signal:
            guard let signal = a.signal else { return (.skipped, "no signal configured") }
            return TargetSignal.send(signal, to: Self.recipients(of: .signal, in: members), requireHandler: true, allowOwnProcess: inProcess)
        case .restart:
            guard let restart = a.restart else { return (.skipped, "no restart configured") }
            // Only what was the target when the level was reached: a successor that a supervisor
            // started meanwhile is not the process that needed the restart.
            let known = Set(original.map { Sampler.Identity(pid: $0.pid, startTicks: $0.startTicks) })
            let roots = Self.recipients(of: .restart, in: members)
            let meant = roots.filter { known.contains(Sampler.Identity(pid: $0.pid, startTicks: $0.startTicks)) }
            guard !meant.isEmpty else {
                let now = roots.map { String($0.pid) }.joined(separator: ",")
                return (.skipped, "the target changed since the level was reached (now pid \(now)); not restarted")
            }
            return TargetSignal.send(restart.signal, to: meant, requireHandler: false, allowOwnProcess: inProcess)
        case .httpHook:
            guard let url = a.httpHook else { return (.skipped, "no http_hook configured") }
            return await postHook(url: url, body: hookBody(context: context, pids: pids))
        case .command:
            guard let argv = a.command else { return (.skipped, "no command configured") }
            return await CommandAction.run(argv, environment: commandEnvironment(context: context, pids: pids), timeout: configuration.actionTimeoutSeconds)
        default:
            return (.skipped, "not an action that asks the target")
        }
    }

    // MARK: Hook and command payloads

    /// The http_hook body: the alert's SPEC §7 payload, with `trigger` and `action_level`.
    func hookBody(context: Context, pids: [Int32]) -> JSONValue {
        var object: JSONObject
        if let alert = context.alert, case .object(let payload) = alert.payload {
            object = payload
        } else {
            let usage = Double(context.sample.process?.status.residentBytes ?? 0) / 1_048_576
            object = [
                "timestamp": .string(WallClock.rfc3339(WallClock.now())),
                "severity": .string(context.level.description),
                "component": .string(Component.processMemory.rawValue),
                "memory_usage": .number(Alert.round1(usage)),
                "threshold": .number(Alert.round1(thresholdMB(context.level))),
                "message": .string("clean-up requested (\(context.trigger == .manual ? "POST /health/actions/gc" : "automatic response"))"),
                "status": .string(context.trigger == .manual ? "manual" : "firing"),
            ]
        }
        object["trigger"] = .string(context.trigger.rawValue)
        object["action_level"] = .string(context.level.description)
        object["target_pids"] = .array(pids.map { .number(Double($0)) })
        return .object(object)
    }

    private func thresholdMB(_ level: Severity) -> Double {
        let t = thresholds
        switch level {
        case .emergency: return t.memoryEmergencyMB
        case .critical: return t.memoryCriticalMB
        default: return t.memoryWarningMB
        }
    }

    /// The command's environment: PATH and the alert fields only (the monitor's own environment
    /// may hold secrets).
    func commandEnvironment(context: Context, pids: [Int32]) -> [String: String] {
        let usage = Double(context.sample.process?.status.residentBytes ?? 0) / 1_048_576
        var env: [String: String] = [
            "PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
            "MEMORY_ALERT_SEVERITY": context.level.description,
            "MEMORY_ALERT_COMPONENT": (context.alert?.component ?? .processMemory).rawValue,
            "MEMORY_TARGET_PID": pids.first.map(String.init) ?? "",
            "MEMORY_TARGET_PIDS": pids.map(String.init).joined(separator: ","),
            "MEMORY_USAGE_MB": JSONValue.format(Alert.round1(usage)),
            "MEMORY_THRESHOLD_MB": JSONValue.format(thresholdMB(context.level)),
            "MEMORY_ACTION_TRIGGER": context.trigger.rawValue,
        ]
        if let alert = context.alert { env["MEMORY_ALERT_MESSAGE"] = alert.message }
        return env
    }

    private func postHook(url: String, body: JSONValue) async -> (ActionResult, String) {
        var request = HTTPClientRequest(url: url)
        request.method = .POST
        request.headers.add(name: "Content-Type", value: "application/json")
        request.headers.add(name: "User-Agent", value: "memory-monitor/\(MonitorMetrics.version)")
        request.body = .bytes(ByteBuffer(string: body.serialized))
        let prepared = request
        let timeout = configuration.actionTimeoutSeconds
        do {
            let status = try await withTimeout(seconds: timeout) {
                let response = try await HTTPClient.shared.execute(prepared, timeout: .milliseconds(Int64(timeout * 1000)))
                _ = try? await response.body.collect(upTo: 64 * 1024)
                return response.status.code
            }
            if (200..<300).contains(status) { return (.ok, "http_hook answered \(status)") }
            return (.failed, "http_hook answered \(status)")
        } catch is TimeoutError {
            return (.failed, "http_hook did not answer within \(JSONValue.format(timeout)) s")
        } catch {
            // AsyncHTTPClient errors do not carry the URL, which may hold a secret.
            return (.failed, "http_hook failed: \(error)")
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
        var metadata: Logger.Metadata = [
            "level": "\(level)", "action": "\(r.action.rawValue)", "result": "\(r.result.rawValue)", "detail": "\(r.detail)",
            "duration_seconds": "\(JSONValue.format((r.durationSeconds * 1000).rounded() / 1000))",
        ]
        if let pid = r.targetPid { metadata["target_pid"] = "\(pid)" }
        if let before = r.residentBytesBefore { metadata["rss_before_bytes"] = "\(before)" }
        if let after = r.residentBytesAfter { metadata["rss_after_bytes"] = "\(after)" }
        if let reclaimed = r.reclaimedBytes { metadata["reclaimed_bytes"] = "\(reclaimed)" }
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
            "actions": .array(records.map { ["action": .string($0.action.rawValue), "result": .string($0.result.rawValue), "reclaimed_bytes": $0.reclaimedBytes.map { .number(Double($0)) } ?? .null] }),
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

    static func ownResidentBytes() -> UInt64? {
        ProcFile.read("/proc/self/status").flatMap(ProcessStatus.parse)?.residentBytes
    }
}

extension ContinuousClock.Instant {
    /// Seconds since an arbitrary fixed point: a monotonic number for cooldowns.
    package var secondsSinceReference: Double {
        (self - ContinuousClock.Instant.reference).seconds
    }

    static let reference = ContinuousClock.now
}
