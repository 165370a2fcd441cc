/// Which process the monitor watches. Re-resolved at every check so a restarted target is followed.
public enum MonitoredTarget: Sendable, Equatable, CustomStringConvertible {
    /// The monitor's own process (the default, and what an embedding service wants).
    case ownProcess
    /// A fixed process: this pid with the start time it had when first seen. A reused pid (same
    /// number, another start time) is another process: the target is then gone.
    case pid(Int32)
    /// A file holding the process id, read at every check; a new pid or start time is a new target.
    case pidfile(String)
    /// The process whose name (comm, or the basename of argv[0] for names over 15 characters)
    /// equals this; the lowest pid wins when several match.
    case processName(String)
    /// Every process whose full command line (arguments joined by spaces) matches this regular
    /// expression, as one group; the monitor itself never matches.
    case processMatch(String)

    public var description: String {
        switch self {
        case .ownProcess: "own process"
        case .pid(let pid): "pid \(pid)"
        case .pidfile(let path): "pidfile \(path)"
        case .processName(let name): "process name \(name)"
        case .processMatch(let pattern): "command line matching \(pattern)"
        }
    }

    /// Parses the content of a pid file: one decimal number, white space around it allowed.
    public static func parsePidfile(_ text: String) -> Int32? {
        let trimmed = text.split(whereSeparator: { $0 == "\n" || $0 == " " || $0 == "\t" }).first
        guard let trimmed, let pid = Int32(trimmed), pid > 0 else { return nil }
        return pid
    }

    /// Whether a process with this comm and command line matches `name`.
    public static func nameMatches(_ name: String, comm: String, cmdline: String?) -> Bool {
        if comm == name { return true }
        // comm is cut to 15 bytes; compare longer names with argv[0]'s last path component.
        guard let cmdline, let argv0 = cmdline.split(separator: "\u{0}", omittingEmptySubsequences: true).first else { return false }
        let base = argv0.split(separator: "/").last.map(String.init) ?? String(argv0)
        return base == name
    }

    /// /proc/PID/cmdline as one line: NUL-separated arguments joined by spaces, trailing NUL dropped.
    public static func commandLine(_ raw: String) -> String {
        var line = raw
        while line.hasSuffix("\u{0}") { line.removeLast() }
        return String(line.map { $0 == "\u{0}" ? " " : $0 })
    }

    /// Whether a command line matches the pattern of `processMatch` (anywhere in the line).
    public static func commandLineMatches(_ pattern: Regex<AnyRegexOutput>, commandLine: String) -> Bool {
        (try? pattern.firstMatch(in: commandLine)) != nil
    }
}
