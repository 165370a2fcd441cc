import Logging

/// The parts a monitor is made of, built from one configuration. This is the one place they are
/// composed: `MemoryMonitor` runs the check pipeline over them, `CheckMailbox` serves readers'
/// checks, `ReloadPlan` decides what a SIGHUP changes, and the executable (or an embedding
/// service) composes the monitor with its HTTP server and services.
struct MonitorParts {
    let metrics: MonitorMetrics
    let alerts: AlertDispatcher
    /// The `instance` alerts name.
    let instance: String
    /// Where actions, agent gate changes and leak profiles run (`CheckLoop`'s task group).
    let actionTasks: ActionTasks
    let autoResponse: AutoResponse
    let leakProfiler: LeakProfiler
    let sampler: Sampler
    let agentProbe: RuntimeAgentProbe?
    /// The history to start from: recovered from the state directory, or empty.
    let history: SampleHistory
    let historyStore: HistoryStore?
    let evaluator: AlertEvaluator

    /// - Parameters:
    ///   - stateStore: with a state directory, alert history and undelivered alerts survive restarts.
    ///   - channels: the alert channels; nil builds them from `configuration.alerting`.
    init(configuration: MonitorConfiguration, logger: Logger, stateStore: AlertStateStore?, channels: [any AlertChannel]?) {
        let metrics = MonitorMetrics(thresholds: configuration.thresholds)
        self.metrics = metrics
        let policy = ThresholdPolicy(configuration.thresholds)
        let channels = channels ?? {
            let built = AlertChannels.make(configuration.alerting, logger: logger)
            for warning in built.warnings { logger.warning("\(warning)") }
            return built.channels
        }()
        self.alerts = AlertDispatcher(configuration: configuration.alerting, channels: channels, metrics: metrics, store: stateStore, logger: logger)
        self.instance = configuration.alerting.instance ?? AlertChannels.hostName() + ":\(configuration.monitoring.prometheusPort)"
        let tasks = ActionTasks()
        self.actionTasks = tasks
        self.autoResponse = AutoResponse(
            configuration: configuration.autoResponse, thresholds: configuration.thresholds,
            inProcess: configuration.monitoring.target == .ownProcess, metrics: metrics, logger: logger, tasks: tasks)
        self.leakProfiler = LeakProfiler(tasks: tasks)
        let evaluator = AlertEvaluator(
            policy: policy, forChecks: configuration.alerting.forChecks, hysteresisPercent: configuration.alerting.hysteresisPercent,
            instance: instance, levels: alerts.restoredLevels,
            growth: GrowthTracker(configuration: configuration), leakSeverity: configuration.monitoring.leakDetection.severity)
        self.sampler = Sampler(
            target: configuration.monitoring.target,
            cgroup: configuration.monitoring.cgroup,
            collectsAllocatorStatistics: configuration.monitoring.collectAllocatorStatistics,
            proportionalRefresh: .milliseconds(Int64(configuration.monitoring.pssRefreshSeconds * 1000)),
            // Never more than half of the check's own time limit.
            proportionalBudget: .milliseconds(
                Int64(min(configuration.monitoring.pssBudgetSeconds, configuration.performance.maxMonitoringTimeSeconds / 2) * 1000)))
        let agent = configuration.monitoring.agent
        // The monitor watching itself has no agent to ask: its in-process actions act directly.
        self.agentProbe =
            agent.enabled && configuration.monitoring.target != .ownProcess
            ? RuntimeAgentProbe(
                settings: .init(
                    enabled: true, timeoutSeconds: agent.timeoutSeconds, socket: agent.socket, socketDirectory: agent.socketDirectory,
                    traceFromStart: configuration.monitoring.traceAllocations, traceDepth: configuration.monitoring.leakDetection.profileDepth))
            : nil
        var history = SampleHistory(capacity: configuration.monitoring.historySize)
        var evaluatorWithHistory = evaluator
        if let directory = configuration.alerting.stateDirectory, stateStore != nil {
            do {
                let store = try HistoryStore(directory: directory, capacity: configuration.monitoring.historySize)
                for warning in store.warnings { logger.warning("\(warning)") }
                for entry in store.recovered { history.append(entry) }
                evaluatorWithHistory.restoreGrowth(store.recovered)
                if !store.recovered.isEmpty {
                    logger.info("history recovered from the state directory", metadata: ["checks": "\(store.recovered.count)"])
                }
                self.historyStore = store
            } catch {
                logger.warning("history is not kept in the state directory", metadata: ["error": "\(error)"])
                self.historyStore = nil
            }
        } else {
            self.historyStore = nil
        }
        self.history = history
        self.evaluator = evaluatorWithHistory
    }
}
