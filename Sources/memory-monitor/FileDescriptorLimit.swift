#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// The process's file-descriptor budget.
enum FileDescriptorLimit {
    /// Descriptors kept back from HTTP connections for checks (/proc and cgroup files), alert
    /// deliveries, the log file and the runtime.
    static let reserved = 32

    /// Raises the soft RLIMIT_NOFILE to the hard limit, as Go programs do at start (systemd's
    /// default soft limit is 1024). Returns the soft limit before and after, and the hard limit.
    static func raise() -> (before: UInt64, soft: UInt64, hard: UInt64) {
        var limit = rlimit()
        guard getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit) == 0 else { return (1024, 1024, 1024) }
        let before = UInt64(limit.rlim_cur)
        if limit.rlim_cur < limit.rlim_max {
            var raised = limit
            raised.rlim_cur = limit.rlim_max
            if setrlimit(Int32(RLIMIT_NOFILE.rawValue), &raised) == 0 { limit = raised }
        }
        return (before, UInt64(limit.rlim_cur), UInt64(limit.rlim_max))
    }

    /// Sleeps once on each clock the monitor uses. The concurrency runtime's timers (libdispatch
    /// on Linux) open a timerfd per clock on first use and trap when that fails: with every
    /// descriptor taken by clients, a first sleep later would crash the process (SIGILL).
    static func warmUpTimers() async {
        try? await ContinuousClock().sleep(for: .milliseconds(1))
        try? await SuspendingClock().sleep(for: .milliseconds(1))
    }
}
