/// How bad a component's memory is: the SPEC's three alert levels, below them "healthy".
public enum Severity: Int, Sendable, Comparable, CaseIterable, CustomStringConvertible {
    case healthy = 0, warning, critical, emergency

    /// The three levels that alert.
    public static let alerting: [Severity] = [.warning, .critical, .emergency]

    public static func < (a: Severity, b: Severity) -> Bool { a.rawValue < b.rawValue }

    /// "healthy", "warning", "critical" or "emergency".
    public var description: String {
        switch self {
        case .healthy: "healthy"
        case .warning: "warning"
        case .critical: "critical"
        case .emergency: "emergency"
        }
    }
}

/// What an alert can be about.
public enum Component: String, Sendable, CaseIterable {
    /// RSS of the monitored process against the MB thresholds.
    case processMemory = "process_memory"
    /// Memory in use against the effective limit, percent thresholds.
    case systemMemory = "system_memory"
    /// Swap in use, percent thresholds.
    case swapMemory = "swap_memory"
    /// The monitored process is gone (exited, no match, a reused pid).
    case target = "target"
    /// The target's cgroup counted a new OOM kill (an event: fires once per kill, never active).
    case oom = "oom"
    /// Sustained growth by the leak rule (`monitoring.leak_detection`).
    case memoryLeak = "memory_leak"
    /// A threshold or the limit is predicted to be crossed within `experimental.prediction_window`.
    case memoryTrend = "memory_trend"
    /// The automatic response refused an action (a restart loop): an event.
    case autoResponse = "auto_response"

    /// The components judged against thresholds, each with its own level.
    public static let measured: [Component] = [.processMemory, .systemMemory, .swapMemory]

    /// Components whose value belongs to the target, so a vanished target supersedes their alerts.
    public var followsTarget: Bool { self == .processMemory || self == .systemMemory || self == .memoryLeak || self == .memoryTrend }

    /// An event alert reports something that happened; it is never active and never resolved.
    public var isEvent: Bool { self == .oom || self == .autoResponse }
}
