import Logging
import Synchronization

/// The monitor: the check pipeline (sample → evaluate → history → metrics → alerts → snapshot).
/// A check is the only writer; everything else reads the `MonitorSnapshot` it publishes.
/// Embeddable in a Swift service (no HTTP server here); `CheckLoop` drives it on a timer.
/// Its parts are built in one place (`MonitorParts`); readers' checks go through `CheckMailbox`
/// and a reload's decisions through `ReloadPlan`.
public final class MemoryMonitor: Sendable {
    struct State: Sendable {
        var snapshot: MonitorSnapshot?
        var history: SampleHistory
        var evaluator: AlertEvaluator
        var totals: CheckTotals
        var pressureStatus = PressureWatch.Status.off
    }

    /// The configuration in force (`reload` may change parts of it).
    public var configuration: MonitorConfiguration { current.withLock { $0 } }
    /// The metric families it keeps up to date.
    package let metrics: MonitorMetrics
    /// Thresholds as levels.
    package var policy: ThresholdPolicy { ThresholdPolicy(configuration.thresholds) }
    /// Rate limits, history and delivery of the alerts checks raise; run `AlertDelivery` to deliver.
    public let alerts: AlertDispatcher
    /// Unix time the monitor was created.
    public let startTime: Double
    /// The automatic response (SPEC §8) and its embedding API: cache clearers, the admission
    /// gate, non-essential tasks, prepare-for-restart hooks.
    public let autoResponse: AutoResponse
    /// The `instance` alerts name.
    package let instance: String

    let sampler: Sampler
    /// The target's runtime agents (clients/python); nil when the probe is off or the monitor watches itself.
    let agentProbe: RuntimeAgentProbe?
    /// Allocation sites of leak episodes, through the target's runtime agent.
    package let leakProfiler: LeakProfiler
    /// Where actions, agent gate changes and leak profiles run: the check loop's task group while
    /// it runs (`CheckLoop`).
    package let actionTasks: ActionTasks
    let logger: Logger
    /// With a state directory: the history on disk.
    let historyStore: HistoryStore?
    private let startedAt = ContinuousClock.now
    private let state: Mutex<State>
    private let current: Mutex<MonitorConfiguration>
    // Held for a whole check: checks never overlap.
    private let checkLock = Mutex<Void>(())
    /// `performance.monitoring_overhead_limit_percent`: the checks' CPU share and the interval.
    private let governor = Mutex(OverheadGovernor())
    /// Readers' requests for a check: the loop's thread runs one for all of them.
    let mailbox = CheckMailbox()

    /// A monitor for `configuration`; nothing is sampled until the first check.
    ///
    /// - Parameters:
    ///   - configuration: thresholds, target, alerting and the rest.
    ///   - logger: where the pipeline logs.
    ///   - stateStore: with a state directory, alert history and undelivered alerts survive restarts.
    ///   - channels: the alert channels; nil builds them from `configuration.alerting`.
    public convenience init(configuration: MonitorConfiguration, logger: Logger = Logger(label: "memory-monitor")) {
        self.init(configuration: configuration, logger: logger, stateStore: nil, channels: nil)
    }

    /// The same with a state store and alert channels of the caller's (the executable, tests).
    package convenience init(
        configuration: MonitorConfiguration, logger: Logger = Logger(label: "memory-monitor"), stateStore: AlertStateStore?,
        channels: [any AlertChannel]? = nil
    ) {
        self.init(
            configuration: configuration, logger: logger,
            parts: MonitorParts(configuration: configuration, logger: logger, stateStore: stateStore, channels: channels), stateStore: stateStore)
    }

    /// The check pipeline over parts built elsewhere (`MonitorParts`, the one place they are composed).
    init(configuration: MonitorConfiguration, logger: Logger, parts: MonitorParts, stateStore: AlertStateStore?) {
        self.current = Mutex(configuration)
        self.metrics = parts.metrics
        self.alerts = parts.alerts
        self.instance = parts.instance
        self.actionTasks = parts.actionTasks
        self.autoResponse = parts.autoResponse
        self.leakProfiler = parts.leakProfiler
        self.sampler = parts.sampler
        self.agentProbe = parts.agentProbe
        self.historyStore = parts.historyStore
        self.logger = logger
        self.startTime = WallClock.now()
        self.state = Mutex(State(history: parts.history, evaluator: parts.evaluator, totals: CheckTotals(startedAt: startTime)))
        if let stateStore { listen(to: stateStore.writeErrors, file: "alerts.journal") }
        if let historyStore { listen(to: historyStore.writeErrors, file: "history.jsonl") }
    }

    /// Counts and logs a state file's write failures (rate limited: a full disk fails every check).
    private func listen(to errors: StateWriteErrors, file: String) {
        let metrics = metrics
        let logger = logger
        let limit = LogRateLimit(burst: 3, windowSeconds: 60)
        metrics.stateWriteErrors.increment(by: 0, file)
        errors.listen { event in
            switch event {
            case .failed(let file, let error):
                metrics.stateWriteErrors.increment(file)
                let (allowed, held) = limit.allow(file)
                guard allowed else { return }
                logger.error(
                    "state file write failed; the old file is kept and the write is retried at the next check",
                    metadata: ["file": "\(file)", "error": "\(error)", "log_lines_held_back": "\(held)"])
            case .recovered(let file):
                logger.notice("state file written again after failures", metadata: ["file": "\(file)"])
            }
        }
    }

    /// The registry of the families of events between checks.
    package var registry: MetricRegistry { metrics.registry }

    /// Every family `/metrics` serves for a snapshot: the check's own (a pure function of the
    /// snapshot), then those of events between checks.
    public func metricFamilies(for snapshot: MonitorSnapshot) -> [MetricFamilySnapshot] {
        CheckFamilies.families(snapshot) + metrics.registry.snapshot()
    }

    /// Every family for the latest snapshot (only the event families before the first check).
    public func metricFamilies() -> [MetricFamilySnapshot] {
        snapshot.map(metricFamilies(for:)) ?? metrics.registry.snapshot()
    }

    // MARK: Checks

    /// Whether the checks read the target's runtime agents.
    package var hasRuntimeAgents: Bool { agentProbe != nil }

    /// Sends the known agents their next report request (the check loop, just before a tick).
    package func askRuntimeAgents() { agentProbe?.prefetch() }

    /// One full check: sample, judge levels, update history and metrics, dispatch alerts, publish.
    @discardableResult
    public func check() -> MonitorSnapshot {
        checkLock.withLock { _ in
            let clock = ContinuousClock()
            let started = clock.now
            agentProbe?.prefetch()
            var sample = sampler.sample()
            if let agentProbe, case .up = sample.targetState { sample.runtime = agentProbe.read(sample.process?.members ?? []) }
            let (previous, outcome, levels) = state.withLock { s in
                let outcome = s.evaluator.evaluate(sample)
                return (s.snapshot?.sample, outcome, s.evaluator.levels)
            }
            alerts.supersede(outcome.superseded)
            alerts.dispatch(respond(to: outcome.alerts, levels: levels, sample: sample))
            if outcome.leakStarted {
                let leakAlert = outcome.alerts.first { $0.component == .memoryLeak && $0.status == .firing }
                leakProfiler.episodeStarted(alert: leakAlert, sample: sample, monitor: self)
            }
            alerts.tick(now: sample.timestamp)
            let finished = clock.now
            let seconds = (finished - started).seconds
            let overran = seconds > configuration.performance.maxMonitoringTimeSeconds
            let active = alerts.activeAlerts
            let entry = SampleHistory.entry(sample, checkSeconds: seconds)
            let snapshot = state.withLock { s -> MonitorSnapshot in
                // The totals change only here, with the snapshot that carries them: a body
                // rendered for this generation shows this check's counters and gauges together.
                s.totals.record(sample)
                if outcome.leakStarted { s.totals.recordLeak() }
                s.totals.recordCheck(seconds: seconds, at: sample.timestamp, overran: overran)
                s.history.append(entry)
                var snapshot = MonitorSnapshot(
                    generation: (s.snapshot?.generation ?? 0) &+ 1, sample: sample, levels: levels, activeAlerts: active,
                    checkedAt: finished, checkSeconds: seconds, cleanupCycles: autoResponse.actionsRun, growth: outcome.growth,
                    totals: s.totals)
                snapshot.leakSites = leakProfiler.latestSites
                s.snapshot = snapshot
                return snapshot
            }
            historyStore?.append(entry) { state.withLock { $0.history.entries(since: 0) } }
            alerts.store?.retryIfBehind()
            if overran {
                logger.warning(
                    "check took longer than performance.max_monitoring_time_seconds",
                    metadata: ["seconds": "\(seconds)", "limit": "\(configuration.performance.maxMonitoringTimeSeconds)"])
            }
            logTargetTransitions(from: previous, to: sample)
            if sample.cgroupDirectory != previous?.cgroupDirectory || sample.cgroup?.version != previous?.cgroup?.version {
                wakeLoop()
            }
            return snapshot
        }
    }

    /// Starts the automatic response for the level reached and notes the planned actions in the
    /// metadata of the alerts that announce that level.
    private func respond(to newAlerts: [Alert], levels: [Component: Severity], sample: Sample) -> [Alert] {
        let level = Component.measured.map { levels[$0] ?? .healthy }.max() ?? .healthy
        func announces(_ a: Alert) -> Bool { a.status == .firing && a.severity == level && Component.measured.contains(a.component) }
        // Healthy (nearly every check): no alert to look up, only the gate to follow.
        let alert = level == .healthy ? nil : newAlerts.first(where: announces) ?? alerts.activeAlerts.first(where: announces)
        let planned = autoResponse.respond(to: .init(level: level, trigger: .auto, alert: alert, sample: sample), monitor: self)
        guard !planned.isEmpty else { return newAlerts }
        let note = AutoResponse.plannedSummary(planned, level: level, dryRun: configuration.autoResponse.dryRun)
        return newAlerts.map { a in
            guard announces(a) else { return a }
            var annotated = a
            annotated.autoResponse = note
            return annotated
        }
    }

    private func logTargetTransitions(from previous: Sample?, to sample: Sample) {
        if sample.targetChanged, let p = sample.process {
            logger.warning(
                "monitored process changed: a new process (pid and start time) is the target now",
                metadata: [
                    "target": "\(sample.targetDescription)", "pids": "\(p.pids.map(String.init).joined(separator: ","))",
                    "previous_pid": "\(previous?.process?.pid.description ?? "none")", "start_ticks": "\(p.startTicks.map(String.init) ?? "unknown")",
                ])
        }
        if previous?.targetState != sample.targetState {
            switch sample.targetState {
            case .up:
                if let p = sample.process {
                    logger.info("monitored process found", metadata: ["target": "\(sample.targetDescription)", "pid": "\(p.pid)", "processes": "\(p.pids.count)"])
                }
            case .gone(let reason):
                logger.warning("monitored process not found", metadata: ["target": "\(sample.targetDescription)", "reason": "\(reason)"])
            case .unknown(let reason):
                logger.error(
                    "monitored process could not be read; its values are unknown for this check",
                    metadata: ["target": "\(sample.targetDescription)", "reason": "\(reason)"])
            }
        }
        for (part, reason) in sample.unavailable.sorted(by: { $0.key < $1.key }) where part != "target" {
            if previous?.unavailable[part] != reason {
                logger.warning("value unknown this check", metadata: ["part": "\(part)", "reason": "\(reason)"])
            }
        }
        for (field, reason) in (sample.process?.unavailable ?? [:]).sorted(by: { $0.key < $1.key }) where previous?.process?.unavailable[field] != reason {
            logger.notice("target field unavailable", metadata: ["field": "\(field)", "reason": "\(reason)"])
        }
    }

    /// The latest snapshot if it is at most `maxAge` old; otherwise runs a check (or joins the
    /// one another reader started) and returns its snapshot. Never samples outside a check.
    public func snapshot(maxAge: Duration) async -> MonitorSnapshot {
        if let current = snapshot, ContinuousClock.now - current.checkedAt <= maxAge { return current }
        // With a check loop running, its thread runs the check (and one check serves every reader
        // waiting by then): a check reads files, and for a large group takes many milliseconds,
        // which a thread of the cooperative pool should not spend blocked.
        return await mailbox.freshSnapshot { [self] in check() }
    }

    /// Lets the check loop run the checks readers ask for: `wake` wakes its thread, which then
    /// calls `takeCheckRequests()`. The monitor also wakes it when a check finds the target in
    /// another cgroup (to re-arm the pressure trigger) and when a reload changes the interval.
    func acceptCheckRequests(wake: @escaping @Sendable () -> Void) { mailbox.accept(wake: wake) }

    /// Whether a reader waits for a check.
    var hasCheckRequests: Bool { mailbox.hasRequests }

    /// The readers waiting for a check; the caller runs one and resumes each with its snapshot.
    func takeCheckRequests() -> [CheckedContinuation<MonitorSnapshot?, Never>] { mailbox.take() }

    /// The check loop stops: readers still waiting (given nil) and later ones run their own check.
    func stopAcceptingCheckRequests() { mailbox.stop() }

    /// The latest published snapshot, if any check has completed.
    public var snapshot: MonitorSnapshot? { state.withLock { $0.snapshot } }

    /// The generation of the latest snapshot if it is at most `maxAge` old: the scrape hot path's
    /// freshness test, without copying the snapshot.
    package func freshGeneration(maxAge: Duration) -> UInt64? {
        let now = ContinuousClock.now
        return state.withLock { s in
            // Field by field: binding the whole snapshot would copy (retain) every part of it.
            guard let at = s.snapshot?.checkedAt, now - at <= maxAge else { return nil }
            return s.snapshot?.generation
        }
    }

    /// What a reload did: the keys it applied, and the changed keys that need a restart.
    public struct ReloadReport: Sendable, Equatable {
        public var applied: [String] = []
        public var needsRestart: [String] = []
    }

    /// Applies a new configuration without a restart (SIGHUP), key by key as `ReloadPlan` says:
    /// the changed keys whose reload policy is live are applied (levels, active alerts, history,
    /// cooldowns and undelivered alerts are kept); the changed keys that need a restart keep their
    /// old value and are listed in `needsRestart`.
    @discardableResult
    public func reload(_ new: MonitorConfiguration) -> ReloadReport {
        checkLock.withLock { _ in
            let old = configuration
            let plan = ReloadPlan(from: old, to: new)
            let report = ReloadReport(applied: plan.applied, needsRestart: plan.needsRestart)
            let applied = plan.configuration
            current.withLock { $0 = applied }
            let growthChanged =
                old.thresholds != new.thresholds || old.experimental != new.experimental || old.monitoring.leakDetection != new.monitoring.leakDetection
            state.withLock { s in s.evaluator.reconfigure(applied, history: growthChanged ? s.history.entries(since: 0) : nil) }
            alerts.reconfigure(applied.alerting)
            autoResponse.reconfigure(applied.autoResponse, thresholds: applied.thresholds)
            metrics.setThresholds(ThresholdPolicy(applied.thresholds))
            // A shorter interval takes effect now, not at the tick the loop sleeps until.
            if old.monitoring.checkInterval != new.monitoring.checkInterval { wakeLoop() }
            return report
        }
    }

    /// Seconds since the monitor was created.
    public var uptimeSeconds: Double { (ContinuousClock.now - startedAt).seconds }

    /// Seconds since the last completed check, or nil before the first.
    package var secondsSinceLastCheck: Double? {
        snapshot.map { (ContinuousClock.now - $0.checkedAt).seconds }
    }

    /// True when no check has completed for three intervals (or ever, three intervals after start).
    /// The interval the check loop uses now: the configured one, longer while the checks take
    /// more CPU than `performance.monitoring_overhead_limit_percent` allows.
    package var effectiveCheckInterval: Double {
        let configured = current.withLock { $0.monitoring.checkInterval }
        return governor.withLock { $0.interval(configured: configured) }
    }

    /// The checks' CPU share, its limit, and the interval it gives.
    package var overhead: OverheadGovernor.Status {
        let c = configuration
        return governor.withLock { $0.status(limitPercent: c.performance.monitoringOverheadLimitPercent, configured: c.monitoring.checkInterval) }
    }

    /// The loop's thread calls this after each check. When a window is due (every ten intervals)
    /// it reads the thread's CPU time; a window that closed above the limit lengthens the interval,
    /// one below half the limit restores it (logged, and in the metrics).
    func observeCheckCPU(wallSeconds: Double, threadSeconds: () -> Double) {
        let (limit, configured) = current.withLock { ($0.performance.monitoringOverheadLimitPercent, $0.monitoring.checkInterval) }
        guard governor.withLock({ $0.isDue(wallSeconds: wallSeconds, configured: configured) }) else { return }
        let cpu = threadSeconds()
        let (change, status) = governor.withLock { g in
            (g.observe(cpuSeconds: cpu, wallSeconds: wallSeconds, limitPercent: limit, configured: configured),
             g.status(limitPercent: limit, configured: configured))
        }
        if let percent = status.cpuPercent { metrics.checkCPURatio.set(percent / 100) }
        metrics.effectiveCheckInterval.set(status.intervalSeconds)
        guard let change else { return }
        let metadata: Logger.Metadata = [
            "cpu_percent": "\((status.cpuPercent ?? 0).roundedToTenth)", "limit_percent": "\(limit)",
            "interval_seconds": "\(change.to)", "configured_interval_seconds": "\(configured)",
        ]
        if change.to > change.from {
            logger.warning("checks take more CPU than performance.monitoring_overhead_limit_percent allows: check interval lengthened", metadata: metadata)
        } else {
            logger.notice("checks are back under performance.monitoring_overhead_limit_percent: configured check interval restored", metadata: metadata)
        }
    }

    public var isStalled: Bool {
        let limit = 3 * effectiveCheckInterval
        return (secondsSinceLastCheck ?? uptimeSeconds) > limit
    }

    /// History entries of the last `seconds` (only the newest `newest` of them, when given).
    package func history(lastSeconds seconds: Double, newest: Int = .max) -> [SampleHistory.Entry] {
        let since = WallClock.now() - seconds
        return state.withLock { $0.history.entries(since: since, newest: newest) }
    }

    /// Wakes the check loop's thread, if a loop runs.
    private func wakeLoop() {
        mailbox.wakeLoop()
    }

    /// What the pressure watch is doing now.
    package var pressureStatus: PressureWatch.Status { state.withLock { $0.pressureStatus } }

    /// Records what the pressure watch is doing: the current snapshot shows it at once (the watch
    /// arms after a check, and the next check may be an interval away), and every later one.
    func setPressureStatus(_ status: PressureWatch.Status) {
        state.withLock { $0.pressureStatus = status }
    }


    // MARK: Clean-up

    /// Registers a cache clearer of normal priority (`clear_caches`); see `AutoResponse.addCacheClearer(priority:_:)`.
    public func addCacheClearer(_ clearer: @escaping @Sendable () -> Void) {
        autoResponse.addCacheClearer(priority: .normal, clearer)
    }

    /// The admission gate the automatic response throttles: `try await monitor.gate.admit { … }`.
    public var gate: AdmissionGate { autoResponse.gate }

    /// `POST /health/actions/gc`: the warning level's clean-up against the current target, each
    /// action measured. Nil when nothing configured reaches the target (a sidecar without
    /// `warning_actions.signal` or `http_hook`).
    public func cleanUp() async -> [ActionRecord]? {
        await autoResponse.runManual(monitor: self)
    }

    /// `POST /health/actions/profile`: the target's allocation sites over `seconds`, through its
    /// runtime agent.
    package func profileAllocations(seconds: Double) async -> Result<LeakProfile, LeakProfiler.Refusal> {
        let snapshot = await snapshot(maxAge: .seconds(1))
        let agents = (snapshot.sample.runtime?.reachable ?? []).map { AgentEndpoint(pid: $0.pid, socket: $0.socket) }
        guard !agents.isEmpty else {
            return .failure(.noAgent(snapshot.sample.runtime?.reason ?? "the monitor does not probe for agents (monitoring.agent.enabled, or it watches itself)"))
        }
        let c = configuration.monitoring.leakDetection
        return await leakProfiler.profile(
            agents: agents, seconds: seconds, top: c.profileSites, depth: c.profileDepth, timeout: max(60, configuration.autoResponse.actionTimeoutSeconds),
            trigger: .manual)
    }
}

extension Duration {
    /// The duration in seconds as a Double.
    public var seconds: Double {
        let (s, attos) = components
        return Double(s) + Double(attos) / 1e18
    }
}
