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
        // A byte scan (no Substring arrays): "some avg10=0.12 avg60=0.05 avg300=0.01 total=12345".
        var copy = text
        copy.withUTF8 { bytes in
            var i = 0
            let n = bytes.count
            while i < n {
                var lineEnd = i
                while lineEnd < n && bytes[lineEnd] != UInt8(ascii: "\n") { lineEnd += 1 }
                var avg10: Double?
                var avg60: Double?
                var avg300: Double?
                var total: Double?
                var kindEnd = i
                while kindEnd < lineEnd && bytes[kindEnd] != UInt8(ascii: " ") { kindEnd += 1 }
                let isSome = kindEnd - i == 4 && bytes[i] == UInt8(ascii: "s")
                let isFull = kindEnd - i == 4 && bytes[i] == UInt8(ascii: "f")
                var j = kindEnd
                while j < lineEnd {
                    while j < lineEnd && bytes[j] == UInt8(ascii: " ") { j += 1 }
                    let keyStart = j
                    while j < lineEnd && bytes[j] != UInt8(ascii: "=") && bytes[j] != UInt8(ascii: " ") { j += 1 }
                    let keyEnd = j
                    guard j < lineEnd, bytes[j] == UInt8(ascii: "=") else { continue }
                    j += 1
                    let valueStart = j
                    while j < lineEnd && bytes[j] != UInt8(ascii: " ") { j += 1 }
                    let slot: Int? =
                        switch keyEnd - keyStart {
                        case 5 where bytes[keyStart] == UInt8(ascii: "a"):
                            bytes[keyStart + 3] == UInt8(ascii: "1") ? 0 : (bytes[keyStart + 3] == UInt8(ascii: "6") ? 1 : nil)
                        case 6 where bytes[keyStart] == UInt8(ascii: "a"): 2
                        case 5 where bytes[keyStart] == UInt8(ascii: "t"): 3
                        default: nil
                        }
                    let value = slot == nil ? nil : decimal(UnsafeBufferPointer(rebasing: bytes[valueStart..<j]))
                    switch slot {
                    case 0?: avg10 = value
                    case 1?: avg60 = value
                    case 2?: avg300 = value
                    case 3?: total = value
                    default: break
                    }
                }
                if let avg10, let avg60, let avg300, let total {
                    let line = Line(avg10Ratio: avg10 / 100, avg60Ratio: avg60 / 100, avg300Ratio: avg300 / 100, totalSeconds: total / 1e6)
                    if isSome { some = line } else if isFull { full = line }
                }
                i = lineEnd + 1
            }
        }
        return some.map { PressureStall(some: $0, full: full) }
    }

    /// A plain decimal ("12", "0.25"), or nil for anything else.
    static func decimal(_ bytes: UnsafeBufferPointer<UInt8>) -> Double? {
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
}
