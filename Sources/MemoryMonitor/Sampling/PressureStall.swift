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
    public static func parse(_ text: String) -> PressureStall? {
        var some: Line?
        var full: Line?
        for row in text.split(separator: "\n") {
            let fields = row.split(separator: " ")
            guard let kind = fields.first else { continue }
            var avg10: Double?
            var avg60: Double?
            var avg300: Double?
            var total: Double?
            for field in fields.dropFirst() {
                guard let eq = field.firstIndex(of: "=") else { continue }
                let value = field[field.index(after: eq)...]
                switch field[..<eq] {
                case "avg10": avg10 = Double(value)
                case "avg60": avg60 = Double(value)
                case "avg300": avg300 = Double(value)
                case "total": total = Double(value)
                default: break
                }
            }
            guard let avg10, let avg60, let avg300, let total else { continue }
            let line = Line(avg10Ratio: avg10 / 100, avg60Ratio: avg60 / 100, avg300Ratio: avg300 / 100, totalSeconds: total / 1e6)
            if kind == "some" { some = line } else if kind == "full" { full = line }
        }
        return some.map { PressureStall(some: $0, full: full) }
    }
}
