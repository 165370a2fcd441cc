/// The "Key:   value kB" layout shared by /proc/meminfo, /proc/PID/status and smaps_rollup,
/// and the "key value" layout of cgroup memory.stat and memory.events.
///
/// Scans the text's UTF-8 bytes in place: no line arrays, no allocation per line. These files
/// are read at every check, and splitting them cost more than the kernel took to write them.
enum KeyValueLines {
    /// Calls `body` with each "Key:" line's key, its value text (trimmed), and the value as a
    /// number when it is one (scaled to bytes when the line ends in kB).
    static func forEachKibibyteLine(_ bytes: UnsafeBufferPointer<UInt8>, _ body: (ByteSlice, ByteSlice, UInt64?) -> Void) {
        scanKibibyteLines(bytes, until: { key, raw, value in
            body(key, raw, value)
            return false
        })
    }

    /// As `forEachKibibyteLine`, stopping at the first line for which `body` returns true (a
    /// parser that has every key it wants skips the rest of the file).
    static func scanKibibyteLines(_ bytes: UnsafeBufferPointer<UInt8>, until body: (ByteSlice, ByteSlice, UInt64?) -> Bool) {
        scanByteLines(bytes, until: { line in
            guard let colon = line.firstIndex(of: UInt8(ascii: ":")) else { return false }
            let value = ByteSlice(line, from: colon + 1, to: line.count).trimmed
            return body(ByteSlice(line, from: 0, to: colon), value, value.number(allowKiB: true))
        })
    }

    /// Calls `body` with each "name value" pair whose value is an unsigned integer.
    static func forEachSpaceSeparatedPair(_ bytes: UnsafeBufferPointer<UInt8>, _ body: (ByteSlice, UInt64) -> Void) {
        forEachByteLine(bytes) { line in
            guard let space = line.firstIndex(of: UInt8(ascii: " ")) else { return }
            if let value = ByteSlice(line, from: space + 1, to: line.count).trimmed.number(allowKiB: false) {
                body(ByteSlice(line, from: 0, to: space), value)
            }
        }
    }

    /// Each line's bytes, without the newline.
    static func forEachByteLine(_ bytes: UnsafeBufferPointer<UInt8>, _ body: (UnsafeBufferPointer<UInt8>) -> Void) {
        scanByteLines(bytes, until: { line in
            body(line)
            return false
        })
    }

    /// Each line's bytes until `body` returns true.
    static func scanByteLines(_ bytes: UnsafeBufferPointer<UInt8>, until body: (UnsafeBufferPointer<UInt8>) -> Bool) {
        var start = 0
        while start < bytes.count {
            var end = start
            while end < bytes.count && bytes[end] != UInt8(ascii: "\n") { end += 1 }
            if end > start && body(UnsafeBufferPointer(rebasing: bytes[start..<end])) { return }
            start = end + 1
        }
    }

    /// The first line, trimmed of spaces and tabs.
    static func firstLine(_ bytes: UnsafeBufferPointer<UInt8>) -> ByteSlice {
        let end = bytes.firstIndex(of: UInt8(ascii: "\n")) ?? bytes.count
        return ByteSlice(bytes, from: 0, to: end).trimmed
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

}

extension String {
    /// The string's UTF-8 bytes, for the byte parsers.
    func withProcBytes<T>(_ body: (UnsafeBufferPointer<UInt8>) -> T) -> T {
        var text = self
        return text.withUTF8(body)
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

/// A run of bytes inside a line being scanned: compared with string literals without building strings.
struct ByteSlice {
    let bytes: UnsafeBufferPointer<UInt8>

    init(_ line: UnsafeBufferPointer<UInt8>, from start: Int, to end: Int) {
        bytes = UnsafeBufferPointer(rebasing: line[start..<max(start, end)])
    }

    private init(bytes: UnsafeBufferPointer<UInt8>) { self.bytes = bytes }

    /// The bytes as a string (allocates: only for values kept, such as a process name).
    var string: String { String(decoding: bytes, as: UTF8.self) }

    /// Without leading and trailing spaces and tabs.
    var trimmed: ByteSlice {
        var start = 0
        var end = bytes.count
        while start < end && (bytes[start] == 0x20 || bytes[start] == 0x09) { start += 1 }
        while end > start && (bytes[end - 1] == 0x20 || bytes[end - 1] == 0x09) { end -= 1 }
        return ByteSlice(bytes: UnsafeBufferPointer(rebasing: bytes[start..<end]))
    }

    /// "123", or "123 kB" (×1024) when allowed; nil for anything else or on overflow.
    func number(allowKiB: Bool) -> UInt64? {
        var value: UInt64 = 0
        var index = 0
        while index < bytes.count, bytes[index] >= 0x30 && bytes[index] <= 0x39 {
            let (times10, o1) = value.multipliedReportingOverflow(by: 10)
            let (sum, o2) = times10.addingReportingOverflow(UInt64(bytes[index] - 0x30))
            guard !o1 && !o2 else { return nil }
            value = sum
            index += 1
        }
        guard index > 0 else { return nil }
        if index == bytes.count { return value }
        let rest = ByteSlice(bytes, from: index, to: bytes.count).trimmed
        return allowKiB && "kB" ~= rest ? value &* 1024 : nil
    }

    /// A plain decimal ("12", "0.25"), or nil for anything else.
    var decimal: Double? {
        guard !bytes.isEmpty else { return nil }
        var whole: UInt64 = 0
        var fraction: UInt64 = 0
        var scale: Double = 1
        var seenPoint = false
        for byte in bytes {
            if byte == UInt8(ascii: ".") {
                if seenPoint { return nil }
                seenPoint = true
                continue
            }
            guard byte >= 0x30 && byte <= 0x39 else { return nil }
            let digit = UInt64(byte - 0x30)
            if seenPoint {
                guard scale < 1e15 else { continue }
                fraction = fraction * 10 + digit
                scale *= 10
            } else {
                let (product, overflow) = whole.multipliedReportingOverflow(by: 10)
                guard !overflow else { return nil }
                whole = product + digit
            }
        }
        return Double(whole) + Double(fraction) / scale
    }

    /// Matches a string literal byte for byte: `case "MemTotal":` in a switch over a key.
    static func ~= (pattern: StaticString, value: ByteSlice) -> Bool {
        let count = pattern.utf8CodeUnitCount
        guard count == value.bytes.count else { return false }
        let p = pattern.utf8Start
        for i in 0..<count where p[i] != value.bytes[i] { return false }
        return true
    }
}
