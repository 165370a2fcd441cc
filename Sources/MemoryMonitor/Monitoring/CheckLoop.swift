import Logging
import ServiceLifecycle

/// Runs `MemoryMonitor.check()` every `monitoring.check_interval` seconds until graceful shutdown.
/// Ticks never pile up: a check that runs past the next tick skips it.
public struct CheckLoop: Service {
    let monitor: MemoryMonitor
    let logger: Logger

    public init(monitor: MemoryMonitor, logger: Logger) {
        self.monitor = monitor
        self.logger = logger
    }

    public func run() async throws {
        let clock = ContinuousClock()
        logger.info(
            "check loop started",
            metadata: [
                "interval_seconds": "\(monitor.configuration.monitoring.checkInterval)",
                "target": "\(monitor.configuration.monitoring.target)",
            ])
        // One shutdown handler around the whole loop, not one per sleep: each would cost a task
        // group and a few allocations every second. A check is synchronous, so a shutdown that
        // arrives during one ends the loop at the sleep after it.
        try? await cancelWhenGracefulShutdown {
            var deadline = clock.now
            while !Task.isCancelled {
                monitor.check()
                // Read each time: a reload may change it.
                let interval = Duration.seconds(monitor.configuration.monitoring.checkInterval)
                deadline = Self.nextDeadline(after: deadline, interval: interval, now: clock.now)
                try await clock.sleep(until: deadline)
            }
        }
        logger.info("check loop stopped")
    }

    /// The first tick after `previous` that is still in the future: missed ticks are skipped.
    static func nextDeadline(after previous: ContinuousClock.Instant, interval: Duration, now: ContinuousClock.Instant) -> ContinuousClock.Instant {
        var next = previous + interval
        if next <= now {
            let behind = (now - previous).seconds / interval.seconds
            next = previous + interval * Int(behind.rounded(.down) + 1)
        }
        return next
    }
}
