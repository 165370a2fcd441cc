/// The "Key:   value kB" layout shared by /proc/meminfo, /proc/PID/status and smaps_rollup,
/// and the "key value" layout of cgroup memory.stat and memory.events.
enum KeyValueLines {
    /// Calls `body` with each key and the first number after it, scaled to bytes when the line says kB.
    static func forEachKibibyteLine(_ text: String, _ body: (Substring, UInt64?) -> Void) {
        for line in text.split(separator: "\n", omittingEmptySubsequences: true) {
            guard let colon = line.firstIndex(of: ":") else { continue }
            let key = line[..<colon]
            let rest = line[line.index(after: colon)...].split(whereSeparator: { $0 == " " || $0 == "\t" })
            guard let first = rest.first else {
                body(key, nil)
                continue
            }
            guard let number = UInt64(first) else {
                body(key, nil)
                continue
            }
            let isKiB = rest.count > 1 && rest[1] == "kB"
            body(key, isKiB ? number &* 1024 : number)
        }
    }

    /// Calls `body` with each "name value" pair whose value is an unsigned integer.
    static func forEachSpaceSeparatedPair(_ text: String, _ body: (Substring, UInt64) -> Void) {
        for line in text.split(separator: "\n", omittingEmptySubsequences: true) {
            let parts = line.split(separator: " ", maxSplits: 1, omittingEmptySubsequences: true)
            guard parts.count == 2, let value = UInt64(parts[1].trimmingTabs) else { continue }
            body(parts[0], value)
        }
    }
}

extension Substring {
    /// The substring without leading and trailing tabs and spaces.
    var trimmingTabs: Substring {
        var s = self
        while let f = s.first, f == "\t" || f == " " { s.removeFirst() }
        while let l = s.last, l == "\t" || l == " " { s.removeLast() }
        return s
    }
}
