/// The "Key:   value kB" layout shared by /proc/meminfo, /proc/PID/status and smaps_rollup,
/// and the "key value" layout of cgroup memory.stat and memory.events.
///
/// Scans the text's UTF-8 bytes in place: no line arrays, no allocation per line. These files
/// are read at every check, and splitting them cost more than the kernel took to write them.
enum KeyValueLines {
    /// Calls `body` with each "Key:" line's key, its value text (trimmed), and the value as a
    /// number when it is one (scaled to bytes when the line ends in kB).
    static func forEachKibibyteLine(_ text: String, _ body: (Substring, Substring, UInt64?) -> Void) {
        forEachLine(text) { line in
            guard let colon = line.utf8.firstIndex(of: UInt8(ascii: ":")) else { return }
            let value = line[line.index(after: colon)...].trimmingTabs
            body(line[..<colon], value, number(value, allowKiB: true))
        }
    }

    /// Calls `body` with each "name value" pair whose value is an unsigned integer.
    static func forEachSpaceSeparatedPair(_ text: String, _ body: (Substring, UInt64) -> Void) {
        forEachLine(text) { line in
            guard let space = line.utf8.firstIndex(of: UInt8(ascii: " ")) else { return }
            if let value = number(line[line.index(after: space)...].trimmingTabs, allowKiB: false) { body(line[..<space], value) }
        }
    }

    /// Each line of `text` without its newline, as a substring (no copy).
    static func forEachLine(_ text: String, _ body: (Substring) -> Void) {
        let utf8 = text.utf8
        var start = utf8.startIndex
        while start < utf8.endIndex {
            let end = utf8[start...].firstIndex(of: UInt8(ascii: "\n")) ?? utf8.endIndex
            if start < end { body(text[start..<end]) }
            start = end < utf8.endIndex ? utf8.index(after: end) : end
        }
    }

    /// "123", or "123 kB" (×1024) when allowed; nil for anything else.
    static func number(_ text: Substring, allowKiB: Bool) -> UInt64? {
        var value: UInt64 = 0
        var digits = 0
        var index = text.utf8.startIndex
        let end = text.utf8.endIndex
        while index < end {
            let byte = text.utf8[index]
            guard byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9") else { break }
            let (times10, o1) = value.multipliedReportingOverflow(by: 10)
            let (sum, o2) = times10.addingReportingOverflow(UInt64(byte - UInt8(ascii: "0")))
            guard !o1 && !o2 else { return nil }
            value = sum
            digits += 1
            index = text.utf8.index(after: index)
        }
        guard digits > 0 else { return nil }
        if index == end { return value }
        let rest = text[index...].trimmingTabs
        return allowKiB && rest == "kB" ? value &* 1024 : nil
    }
}

extension Substring {
    /// The substring without leading and trailing tabs and spaces.
    var trimmingTabs: Substring {
        var s = self
        while let f = s.utf8.first, f == UInt8(ascii: "\t") || f == UInt8(ascii: " ") { s = s.dropFirst() }
        while let l = s.utf8.last, l == UInt8(ascii: "\t") || l == UInt8(ascii: " ") { s = s.dropLast() }
        return s
    }
}
