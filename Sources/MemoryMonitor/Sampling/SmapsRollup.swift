/// Proportional memory of one process from /proc/PID/smaps_rollup (Linux 4.14+), in bytes.
package struct SmapsRollup: Sendable, Equatable {
    /// Pss: resident memory with shared pages divided among their users.
    package var proportionalBytes: UInt64
    /// Rss as smaps counts it.
    package var residentBytes: UInt64?

    package init(proportionalBytes: UInt64, residentBytes: UInt64? = nil) {
        self.proportionalBytes = proportionalBytes
        self.residentBytes = residentBytes
    }

    /// Parses smaps_rollup; nil when it has no Pss line (unreadable or empty for kernel threads).
    package static func parse(_ text: String) -> SmapsRollup? { text.withProcBytes(parse) }

    /// Parses smaps_rollup's bytes where they were read.
    static func parse(_ bytes: UnsafeBufferPointer<UInt8>) -> SmapsRollup? {
        var pss: UInt64?
        var rss: UInt64?
        KeyValueLines.forEachKibibyteLine(bytes) { key, _, value in
            switch key {
            case "Pss": pss = value
            case "Rss": rss = value
            default: break
            }
        }
        return pss.map { SmapsRollup(proportionalBytes: $0, residentBytes: rss) }
    }
}
