import Logging
import Synchronization

/// The monitor: takes samples, keeps the latest and a history, updates the metrics and judges
/// levels. Embeddable in a Swift service (no HTTP server here); `CheckLoop` drives it on a timer.
public final class MemoryMonitor: Sendable {
    struct State: Sendable {
        var latest: Sample?
        var latestAt: ContinuousClock.Instant?
        var generation: UInt64 = 0
        var lastCheckAt: ContinuousClock.Instant?
        var history: SampleHistory
        var evaluator: AlertEvaluator
        var cleanupCycles: UInt64 = 0
    }

    /// The configuration it runs with.
    public let configuration: MonitorConfiguration
    /// The metric families it keeps up to date.
    public let metrics: MonitorMetrics
    /// Thresholds as levels.
    public let policy: ThresholdPolicy
    /// Rate limits, history and delivery of the alerts checks raise; run `AlertDelivery` to deliver.
    public let alerts: AlertDispatcher
    /// Unix time the monitor was created.
    public let startTime: Double

    let sampler: Sampler
    let logger: Logger
    private let startedAt = ContinuousClock.now
    private let state: Mutex<State>
    // Held while sampling so that concurrent refreshes share one sample (single flight).
    private let samplingLock = Mutex<Void>(())
    private let cacheClearers = Mutex<[@Sendable () -> Void]>([])

    /// A monitor for `configuration`; nothing is sampled until `check()` or `refresh(maxAge:)`.
    /// With a `stateStore` (the state directory), alert history and undelivered alerts survive restarts.
    public init(
        configuration: MonitorConfiguration, logger: Logger = Logger(label: "memory-monitor"), stateStore: AlertStateStore? = nil,
        channels: [any AlertChannel]? = nil
    ) {
        self.configuration = configuration
        self.metrics = MonitorMetrics(thresholds: configuration.thresholds)
        self.policy = ThresholdPolicy(configuration.thresholds)
        let built = AlertChannels.make(configuration.alerting, logger: logger)
        for warning in built.warnings { logger.warning("\(warning)") }
        self.alerts = AlertDispatcher(
            configuration: configuration.alerting, channels: channels ?? built.channels, metrics: metrics, store: stateStore, logger: logger)
        let evaluator = AlertEvaluator(
            policy: policy, forChecks: configuration.alerting.forChecks, hysteresisPercent: configuration.alerting.hysteresisPercent,
            instance: configuration.alerting.instance ?? AlertChannels.hostName(), levels: alerts.restoredLevels)
        self.sampler = Sampler(
            target: configuration.monitoring.target,
            collectsAllocatorStatistics: configuration.monitoring.collectAllocatorStatistics,
            proportionalRefresh: .milliseconds(Int64(configuration.monitoring.pssRefreshSeconds * 1000)))
        self.logger = logger
        self.startTime = WallClock.now()
        self.state = Mutex(State(history: SampleHistory(capacity: configuration.monitoring.historySize), evaluator: evaluator))
    }

    /// The registry to serve.
    public var registry: MetricRegistry { metrics.registry }

    // MARK: Checks

    /// One full check: sample, judge levels, update metrics and history, time it.
    @discardableResult
    public func check() -> Sample {
        samplingLock.withLock { _ in
            let clock = ContinuousClock()
            let started = clock.now
            let sample = sampler.sample()
            let (raised, levels) = state.withLock { s in
                let raised = s.evaluator.evaluate(sample)
                return (raised, s.evaluator.levels)
            }
            metrics.update(from: sample)
            metrics.update(levels: levels)
            let finished = clock.now
            let seconds = (finished - started).seconds
            let overran = seconds > configuration.performance.maxMonitoringTimeSeconds
            metrics.recordCheck(seconds: seconds, at: sample.timestamp, overran: overran)
            let targetWasUp = state.withLock { s -> Bool? in
                let wasUp = s.latest.map { $0.process != nil }
                s.latest = sample
                s.latestAt = finished
                s.lastCheckAt = finished
                s.generation &+= 1
                s.history.append(SampleHistory.entry(sample, checkSeconds: seconds))
                return wasUp
            }
            if overran {
                logger.warning(
                    "check took longer than performance.max_monitoring_time_seconds",
                    metadata: ["seconds": "\(seconds)", "limit": "\(configuration.performance.maxMonitoringTimeSeconds)"])
            }
            if targetWasUp != (sample.process != nil) {
                if sample.process == nil {
                    logger.warning("monitored process not found", metadata: ["target": "\(sample.targetDescription)"])
                } else if targetWasUp == false {
                    logger.info("monitored process found", metadata: ["target": "\(sample.targetDescription)", "pid": "\(sample.process!.pid)"])
                }
            }
            alerts.dispatch(raised)
            return sample
        }
    }

    /// Makes sure the latest sample is at most `maxAge` old, sampling if needed, and returns the
    /// generation of the sample now current. Concurrent callers share one sample.
    @discardableResult
    public func refresh(maxAge: Duration) -> UInt64 {
        if let generation = freshGeneration(maxAge: maxAge) { return generation }
        return samplingLock.withLock { _ in
            // Another caller may have sampled while this one waited for the lock.
            if let generation = freshGeneration(maxAge: maxAge) { return generation }
            let sample = sampler.sample()
            metrics.update(from: sample)
            let now = ContinuousClock.now
            return state.withLock { s in
                s.latest = sample
                s.latestAt = now
                s.generation &+= 1
                return s.generation
            }
        }
    }

    private func freshGeneration(maxAge: Duration) -> UInt64? {
        state.withLock { s in
            guard let at = s.latestAt, ContinuousClock.now - at <= maxAge else { return nil }
            return s.generation
        }
    }

    /// Increases whenever a new sample is published; caches key on it.
    public var generation: UInt64 { state.withLock { $0.generation } }

    /// The latest sample, if any.
    public var latestSample: Sample? { state.withLock { $0.latest } }

    /// The levels in force after the last check.
    public var levels: [Component: Severity] { state.withLock { $0.evaluator.levels } }

    /// The highest level of any component.
    public var overallSeverity: Severity { levels.values.max() ?? .healthy }

    /// Seconds since the monitor was created.
    public var uptimeSeconds: Double { (ContinuousClock.now - startedAt).seconds }

    /// Seconds since the last completed check, or nil before the first.
    public var secondsSinceLastCheck: Double? {
        state.withLock { $0.lastCheckAt }.map { (ContinuousClock.now - $0).seconds }
    }

    /// True when no check has completed for three intervals (or ever, three intervals after start).
    public var isStalled: Bool {
        let limit = 3 * configuration.monitoring.checkInterval
        return (secondsSinceLastCheck ?? uptimeSeconds) > limit
    }

    /// History entries of the last `seconds`.
    public func history(lastSeconds seconds: Double) -> [SampleHistory.Entry] {
        let since = WallClock.now() - seconds
        return state.withLock { $0.history.entries(since: since) }
    }

    // MARK: Clean-up

    /// Registers a cache clearer that a clean-up runs (an embedding service's caches).
    public func addCacheClearer(_ clearer: @escaping @Sendable () -> Void) {
        cacheClearers.withLock { $0.append(clearer) }
    }

    /// Clean-up cycles run so far (`gc_collections`).
    public var cleanupCycles: UInt64 { state.withLock { $0.cleanupCycles } }

    /// Runs the registered cache clearers, then returns free heap to the kernel (`malloc_trim`).
    @discardableResult
    public func cleanUp() -> CleanupResult {
        let residentBefore = ProcFile.read("/proc/self/status").flatMap(ProcessStatus.parse)?.residentBytes ?? 0
        let clearers = cacheClearers.withLock { $0 }
        for clear in clearers { clear() }
        let before = AllocatorStatistics.current()
        AllocatorStatistics.trim()
        let after = AllocatorStatistics.current()
        let residentAfter = ProcFile.read("/proc/self/status").flatMap(ProcessStatus.parse)?.residentBytes ?? 0
        state.withLock { $0.cleanupCycles += 1 }
        metrics.cleanupOperations.increment()
        let result = CleanupResult(
            success: true, freeBytesBefore: before.freeBytes, freeBytesAfter: after.freeBytes, residentBytesBefore: residentBefore,
            residentBytesAfter: residentAfter, cacheClearersRun: clearers.count, timestamp: WallClock.now())
        logger.info(
            "clean-up ran",
            metadata: [
                "released_bytes": "\(result.releasedBytes)", "cache_clearers": "\(clearers.count)",
                "rss_before_bytes": "\(residentBefore)", "rss_after_bytes": "\(residentAfter)",
            ])
        return result
    }

}

extension Duration {
    /// The duration in seconds as a Double.
    public var seconds: Double {
        let (s, attos) = components
        return Double(s) + Double(attos) / 1e18
    }
}
