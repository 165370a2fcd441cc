import Synchronization

/// Lets a burst of log lines of one kind through per window, then counts the rest, so a flood of
/// requests cannot flood the log. The first line after a quiet window says how many were held back.
package final class LogRateLimit: Sendable {
    struct Window {
        var start: Double
        var logged: Int
        var suppressed: Int
    }

    let burst: Int
    let windowSeconds: Double
    private let windows = Mutex<[String: Window]>([:])

    package init(burst: Int = 5, windowSeconds: Double = 10) {
        self.burst = burst
        self.windowSeconds = windowSeconds
    }

    /// Whether a line of `kind` may be logged now, and how many were held back before it.
    package func allow(_ kind: String, now: Double = ContinuousClock.now.secondsSinceReference) -> (allowed: Bool, suppressedBefore: Int) {
        windows.withLock { windows in
            var w = windows[kind] ?? Window(start: now, logged: 0, suppressed: 0)
            var carried = 0
            if now - w.start >= windowSeconds {
                carried = w.suppressed
                w = Window(start: now, logged: 0, suppressed: 0)
            }
            defer { windows[kind] = w }
            if w.logged < burst {
                w.logged += 1
                return (true, carried)
            }
            w.suppressed += 1
            return (false, 0)
        }
    }
}
