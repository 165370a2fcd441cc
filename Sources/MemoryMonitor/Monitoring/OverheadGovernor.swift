/// `performance.monitoring_overhead_limit_percent`: keeps the CPU the checks take under a share
/// of one core by lengthening the check interval, and goes back to the configured interval when
/// the share falls.
///
/// The share is the check thread's CPU time (every check runs on the loop's thread: the timed
/// ones, the pressure trigger's, a reader's) over wall time, measured over windows of ten
/// effective intervals (at least one second). Above the limit, the interval doubles, up to 64
/// times the configured one (and at most a day). Below half the limit, it goes back to the
/// configured interval at once. Pure: the loop passes the CPU and wall clocks in.
package struct OverheadGovernor: Sendable {
    /// What /health and the metrics report.
    package struct Status: Sendable, Equatable {
        /// The checks' CPU over the last whole window, in percent of one core; nil before one.
        package var cpuPercent: Double?
        package var limitPercent: Double
        package var configuredIntervalSeconds: Double
        /// The interval the loop uses now.
        package var intervalSeconds: Double
        package var stretched: Bool { intervalSeconds > configuredIntervalSeconds }
    }

    package static let maximumFactor = 64.0
    package static let windowChecks = 10.0

    private(set) var factor = 1.0
    private var windowStart: (cpu: Double, wall: Double)?
    private(set) var lastPercent: Double?

    package init() {}

    /// The interval to use now for `configured`.
    package func interval(configured: Double) -> Double {
        min(configured * factor, max(configured, 86_400))
    }

    /// Whether `observe` would close a window (or open the first) at `wallSeconds`: the caller
    /// reads the thread's CPU clock (a system call) only then, not after every check.
    package func isDue(wallSeconds: Double, configured: Double) -> Bool {
        guard let start = windowStart else { return true }
        return wallSeconds - start.wall >= max(1, Self.windowChecks * interval(configured: configured))
    }

    /// Records the thread's CPU seconds and the wall clock after a check; returns the change of
    /// interval when a window closed and moved it (old, new), else nil.
    package mutating func observe(cpuSeconds: Double, wallSeconds: Double, limitPercent: Double, configured: Double) -> (from: Double, to: Double)? {
        guard let start = windowStart else {
            windowStart = (cpuSeconds, wallSeconds)
            return nil
        }
        let window = max(1, Self.windowChecks * interval(configured: configured))
        let elapsed = wallSeconds - start.wall
        guard elapsed >= window else { return nil }
        let percent = max(0, cpuSeconds - start.cpu) / elapsed * 100
        lastPercent = percent
        windowStart = (cpuSeconds, wallSeconds)
        let before = interval(configured: configured)
        if percent > limitPercent && factor < Self.maximumFactor && before < 86_400 {
            factor = min(Self.maximumFactor, factor * 2)
        } else if percent < limitPercent / 2 && factor > 1 {
            factor = 1
        }
        let after = interval(configured: configured)
        return after != before ? (before, after) : nil
    }

    package func status(limitPercent: Double, configured: Double) -> Status {
        Status(cpuPercent: lastPercent, limitPercent: limitPercent, configuredIntervalSeconds: configured, intervalSeconds: interval(configured: configured))
    }
}
