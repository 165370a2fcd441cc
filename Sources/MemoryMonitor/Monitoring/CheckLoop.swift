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
        var deadline = clock.now
        while !Task.isCancelled && !Task.isShuttingDownGracefully {
            monitor.check()
            // Read each time: a reload may change it.
            let interval = Duration.seconds(monitor.configuration.monitoring.checkInterval)
            deadline = Self.nextDeadline(after: deadline, interval: interval, now: clock.now)
            do {
                let wakeAt = deadline
                try await cancelWhenGracefulShutdown { try await clock.sleep(until: wakeAt) }
            } catch {
                break
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
