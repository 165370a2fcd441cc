/// Pressure stall information (PSI) for memory: /proc/pressure/memory or a cgroup's memory.pressure.
public struct PressureStall: Sendable, Equatable {
    /// One line of PSI: share of wall time stalled, averaged over 10 s, and the total stalled time.
    public struct Line: Sendable, Equatable {
        /// avg10 as a ratio 0..1 (the kernel prints a percentage).
        public var avg10Ratio: Double
        /// avg60 as a ratio 0..1.
        public var avg60Ratio: Double
        /// avg300 as a ratio 0..1.
        public var avg300Ratio: Double
        /// total, converted from microseconds to seconds.
        public var totalSeconds: Double

        public init(avg10Ratio: Double, avg60Ratio: Double, avg300Ratio: Double, totalSeconds: Double) {
            self.avg10Ratio = avg10Ratio
            self.avg60Ratio = avg60Ratio
            self.avg300Ratio = avg300Ratio
            self.totalSeconds = totalSeconds
        }
    }

    /// "some": at least one task stalled on memory.
    public var some: Line
    /// "full": all non-idle tasks stalled at once; absent on very old kernels.
    public var full: Line?

    public init(some: Line, full: Line?) {
        self.some = some
        self.full = full
    }

    /// Parses PSI text; nil when there is no "some" line (PSI disabled: the read fails or is empty).
    /// Lines are "some avg10=0.12 avg60=0.05 avg300=0.01 total=12345", scanned in place.
    public static func parse(_ text: String) -> PressureStall? { text.withProcBytes(parse) }

    /// Parses PSI bytes where they were read.
    static func parse(_ bytes: UnsafeBufferPointer<UInt8>) -> PressureStall? {
        var some: Line?
        var full: Line?
        KeyValueLines.forEachByteLine(bytes) { line in
            var kind: ByteSlice?
            var avg10: Double?
            var avg60: Double?
            var avg300: Double?
            var total: Double?
            var start = 0
            while start < line.count {
                var end = start
                while end < line.count && line[end] != UInt8(ascii: " ") { end += 1 }
                if end > start {
                    let field = ByteSlice(line, from: start, to: end)
                    if kind == nil {
                        kind = field
                    } else if let equals = field.bytes.firstIndex(of: UInt8(ascii: "=")) {
                        let value = ByteSlice(field.bytes, from: equals + 1, to: field.bytes.count).decimal
                        switch ByteSlice(field.bytes, from: 0, to: equals) {
                        case "avg10": avg10 = value
                        case "avg60": avg60 = value
                        case "avg300": avg300 = value
                        case "total": total = value
                        default: break
                        }
                    }
                }
                start = end + 1
            }
            guard let kind, let avg10, let avg60, let avg300, let total else { return }
            let parsed = Line(avg10Ratio: avg10 / 100, avg60Ratio: avg60 / 100, avg300Ratio: avg300 / 100, totalSeconds: total / 1e6)
            if "some" ~= kind { some = parsed } else if "full" ~= kind { full = parsed }
        }
        return some.map { PressureStall(some: $0, full: full) }
    }
}
