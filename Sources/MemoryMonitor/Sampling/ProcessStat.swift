/// CPU time and start time of one process from /proc/PID/stat, in clock ticks.
public struct ProcessStat: Sendable, Equatable {
    /// utime + stime.
    public var cpuTicks: UInt64
    /// starttime: ticks after boot.
    public var startTicks: UInt64
    /// The state letter (field 3): R, S, D, Z (zombie), X (dead), ...
    public var state: Character

    public init(cpuTicks: UInt64, startTicks: UInt64, state: Character = "S") {
        self.cpuTicks = cpuTicks
        self.startTicks = startTicks
        self.state = state
    }

    /// A zombie or dead process has exited: its memory is gone, only its entry waits for its parent.
    public var hasExited: Bool { state == "Z" || state == "X" || state == "x" }

    /// Parses /proc/PID/stat. The command name is in parentheses and may itself hold spaces and
    /// parentheses, so fields are counted from the last ')'.
    public static func parse(_ text: String) -> ProcessStat? {
        guard let close = text.lastIndex(of: ")") else { return nil }
        let fields = text[text.index(after: close)...].split(separator: " ")
        // fields[0] is field 3 (state); utime is field 14, stime 15, starttime 22.
        guard fields.count > 19, let utime = UInt64(fields[11]), let stime = UInt64(fields[12]),
            let start = UInt64(fields[19])
        else { return nil }
        return ProcessStat(cpuTicks: utime + stime, startTicks: start, state: fields[0].first ?? "?")
    }

    /// The boot time in seconds since the epoch, from the "btime" line of /proc/stat.
    public static func parseBootTime(_ procStat: String) -> Double? {
        for line in procStat.split(separator: "\n") where line.hasPrefix("btime ") {
            return Double(line.dropFirst(6).trimmingTabs)
        }
        return nil
    }
}
