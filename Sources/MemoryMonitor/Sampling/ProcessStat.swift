/// CPU time and start time of one process from /proc/PID/stat, in clock ticks.
package struct ProcessStat: Sendable, Equatable {
    /// utime + stime.
    package var cpuTicks: UInt64
    /// starttime: ticks after boot.
    package var startTicks: UInt64
    /// The state letter (field 3): R, S, D, Z (zombie), X (dead), ...
    package var state: Character
    /// ppid (field 4): 0 for init and kernel threads' parent.
    package var parentPid: Int32
    /// The kernel's task flags (field 9).
    package var flags: UInt64 = 0

    package init(cpuTicks: UInt64, startTicks: UInt64, state: Character = "S", parentPid: Int32 = 0) {
        self.cpuTicks = cpuTicks
        self.startTicks = startTicks
        self.state = state
        self.parentPid = parentPid
    }

    /// A zombie or dead process has exited: its memory is gone, only its entry waits for its parent.
    package var hasExited: Bool { state == "Z" || state == "X" || state == "x" }

    /// The process is exiting (PF_EXITING, 0x4): its memory is being torn down, so what it
    /// holds now is no recovery. An OOM kill's victim passes through here.
    package var isExiting: Bool { flags & 0x4 != 0 }

    /// Parses /proc/PID/stat. The command name is in parentheses and may itself hold spaces and
    /// parentheses, so fields are counted from the last ')'.
    package static func parse(_ text: String) -> ProcessStat? { text.withProcBytes(parse) }

    /// Parses /proc/PID/stat's bytes where they were read.
    static func parse(_ bytes: UnsafeBufferPointer<UInt8>) -> ProcessStat? {
        guard let close = bytes.lastIndex(of: UInt8(ascii: ")")) else { return nil }
        // Fields after the name, counted from 0: 0 is field 3 (state); utime is field 14, stime 15, starttime 22.
        var state: UInt8?
        var parent: UInt64?
        var utime: UInt64?
        var stime: UInt64?
        var start: UInt64?
        var flags: UInt64?
        var field = 0
        var i = close + 1
        while i < bytes.count && field <= 19 {
            while i < bytes.count && bytes[i] == UInt8(ascii: " ") { i += 1 }
            var end = i
            while end < bytes.count && bytes[end] != UInt8(ascii: " ") && bytes[end] != UInt8(ascii: "\n") { end += 1 }
            guard end > i else { break }
            let value = ByteSlice(bytes, from: i, to: end)
            switch field {
            case 0: state = bytes[i]
            case 1: parent = value.number(allowKiB: false)
            case 6: flags = value.number(allowKiB: false)
            case 11: utime = value.number(allowKiB: false)
            case 12: stime = value.number(allowKiB: false)
            case 19: start = value.number(allowKiB: false)
            default: break
            }
            field += 1
            i = end
        }
        guard let state, let utime, let stime, let start, let parent, let parentPid = Int32(exactly: parent) else { return nil }
        var stat = ProcessStat(cpuTicks: utime + stime, startTicks: start, state: Character(Unicode.Scalar(state)), parentPid: parentPid)
        stat.flags = flags ?? 0
        return stat
    }

    /// The boot time in seconds since the epoch, from the "btime" line of /proc/stat.
    package static func parseBootTime(_ procStat: String) -> Double? {
        for line in procStat.split(separator: "\n") where line.hasPrefix("btime ") {
            return Double(line.dropFirst(6).trimmingTabs)
        }
        return nil
    }
}
