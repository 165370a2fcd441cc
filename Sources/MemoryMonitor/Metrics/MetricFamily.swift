#if canImport(Glibc)
import Glibc
#endif
import Synchronization

/// The type of a metric family, as both exposition formats name it.
public enum MetricType: String, Sendable {
    case counter, gauge, histogram
}

/// A read-only copy of one family's series, taken for rendering.
public struct MetricFamilySnapshot: Sendable {
    /// One series: label values in the family's label order, and its value(s).
    public struct Series: Sendable {
        public var labelValues: [String]
        /// Counter or gauge value; for a histogram, the sum.
        public var value: Double
        /// Histogram only: cumulative counts per bucket bound, then the total count.
        public var cumulativeCounts: [UInt64]
        /// Counters and histograms: Unix time the series started counting (OpenMetrics `_created`);
        /// nil where the start is not known (a counter that mirrors the kernel's).
        public var created: Double? = nil
        /// Histogram only, when the family is also native: its exponential buckets.
        public var native: NativeBuckets? = nil
    }

    public var name: String
    public var help: String
    public var type: MetricType
    public var unit: String?
    public var labelNames: [String]
    /// Histogram only: the upper bounds, without +Inf.
    public var buckets: [Double]
    public var series: [Series]
}

/// The buckets of a native (exponential) histogram, in the form the protobuf exposition carries:
/// bucket `i` holds observations in (2^((i-1)/2^schema), 2^(i/2^schema)]; spans name runs of
/// consecutive bucket indexes, deltas give each bucket's count as a change from the previous one.
public struct NativeBuckets: Sendable, Equatable {
    /// A run of `length` consecutive buckets, `offset` after the previous run (the first run's
    /// offset is its first index).
    public struct Span: Sendable, Equatable {
        public var offset: Int32
        public var length: UInt32
    }

    public var schema: Int32
    public var zeroThreshold: Double
    public var zeroCount: UInt64
    public var positiveSpans: [Span]
    public var positiveDeltas: [Int64]
    public var negativeSpans: [Span]
    public var negativeDeltas: [Int64]

    /// Spans and deltas for sparse counts keyed by bucket index.
    static func encode(_ counts: [Int32: UInt64]) -> ([Span], [Int64]) {
        var spans: [Span] = []
        var deltas: [Int64] = []
        var previousIndex: Int32 = 0
        var previousCount: Int64 = 0
        for index in counts.keys.sorted() {
            let count = Int64(counts[index]!)
            if spans.isEmpty {
                spans.append(Span(offset: index, length: 1))
            } else if index == previousIndex + 1 {
                spans[spans.count - 1].length += 1
            } else {
                spans.append(Span(offset: index - previousIndex - 1, length: 1))
            }
            deltas.append(count - previousCount)
            previousIndex = index
            previousCount = count
        }
        return (spans, deltas)
    }

    /// The bucket counts again, keyed by index (for tests and for quantiles).
    public func counts(positive: Bool = true) -> [Int32: UInt64] {
        var out: [Int32: UInt64] = [:]
        var index: Int32 = 0
        var count: Int64 = 0
        var deltaIndex = 0
        let (spans, deltas) = positive ? (positiveSpans, positiveDeltas) : (negativeSpans, negativeDeltas)
        for (n, span) in spans.enumerated() {
            index = n == 0 ? span.offset : index + span.offset
            for _ in 0..<span.length {
                count += deltas[deltaIndex]
                deltaIndex += 1
                out[index] = UInt64(count)
                index += 1
            }
        }
        return out
    }

    /// The upper bound of bucket `index` at `schema`: 2^(index / 2^schema).
    public static func upperBound(index: Int32, schema: Int32) -> Double {
        exp2(Double(index) * exp2(Double(-schema)))
    }
}

/// How a histogram family keeps its native buckets.
public struct NativeHistogramOptions: Sendable {
    /// Starting resolution: each power of two is cut into 2^schema buckets (3: a bucket is 9%
    /// wide, as client_golang's default factor 1.1 gives).
    public var schema: Int32 = 3
    /// Above this many buckets the resolution halves (schema - 1) until they fit.
    public var maxBuckets: Int = 160
    /// Observations with |v| at or below this go to the zero bucket.
    public var zeroThreshold: Double = 0x1p-128

    public init(schema: Int32 = 3, maxBuckets: Int = 160, zeroThreshold: Double = 0x1p-128) {
        precondition((-4...8).contains(schema), "native histogram schema must be -4...8")
        self.schema = schema
        self.maxBuckets = maxBuckets
        self.zeroThreshold = zeroThreshold
    }

    /// The bucket index of |value| (> zeroThreshold, finite) at `schema`: the smallest i with
    /// |value| <= 2^(i/2^schema). Exact at bucket boundaries (computed from the binary exponent,
    /// as client_golang does).
    static func index(of value: Double, schema: Int32) -> Int32 {
        let v = abs(value)
        guard v.isFinite else { return Int32.max / 2 }
        // v = frac * 2^exp with frac in [0.5, 1).
        let frac = v.significand / 2
        let exp = Int(v.exponent) + 1
        if schema > 0 {
            let bounds = Self.bounds[Int(schema)]
            // First bound >= frac.
            var lo = 0
            var hi = bounds.count
            while lo < hi {
                let mid = (lo + hi) / 2
                if bounds[mid] < frac { lo = mid + 1 } else { hi = mid }
            }
            return Int32(lo + (exp - 1) * bounds.count)
        }
        var key = exp
        if frac == 0.5 { key -= 1 }
        let shift = Int(-schema)
        let offset = (1 << shift) - 1
        return Int32((key + offset) >> shift)
    }

    /// For schema s > 0: 2^(i/2^s) / 2 for i in 0..<2^s (the fractions where buckets start).
    static let bounds: [[Double]] = (0...8).map { s in
        s == 0 ? [] : (0..<(1 << s)).map { i in exp2(Double(i) / Double(1 << s)) / 2 }
    }
}

/// Anything the registry can render.
package protocol MetricFamilyProtocol: AnyObject, Sendable {
    /// A consistent copy of the family's series.
    func snapshot() -> MetricFamilySnapshot
}

/// Storage shared by the three family kinds: series keyed by label values, in the order they
/// were first created. A removed series keeps its place without a value, so a slot number (a
/// `Gauge` handle) stays valid; label sets are fixed or bounded (sources, severities, channels).
struct SeriesTable<Value: Sendable>: Sendable {
    struct Slot: Sendable {
        var labels: [String]
        var value: Value?
        /// When the series was (last) created, Unix time.
        var created: Double
    }

    private(set) var slots: [Slot] = []
    private var index: [[String]: Int] = [:]
    /// The family has no labels: its single series is slot 0, found without a hash.
    let unlabelled: Bool

    init(unlabelled: Bool) { self.unlabelled = unlabelled }

    /// The slot of these label values, if the series was ever made.
    func existingSlot(_ labels: [String]) -> Int? {
        unlabelled ? (slots.isEmpty || !labels.isEmpty ? nil : 0) : index[labels]
    }

    /// The slot of these label values, made (without a value) if new.
    mutating func slot(_ labels: [String]) -> Int {
        if let i = existingSlot(labels) { return i }
        slots.append(Slot(labels: labels, value: nil, created: 0))
        index[labels] = slots.count - 1
        return slots.count - 1
    }

    mutating func update(_ labels: [String], initial: @autoclosure () -> Value, _ body: (inout Value) -> Void) {
        update(at: slot(labels), initial: initial(), body)
    }

    mutating func update(at slot: Int, initial: @autoclosure () -> Value, _ body: (inout Value) -> Void) {
        if slots[slot].value == nil {
            var value = initial()
            body(&value)
            slots[slot].value = value
            slots[slot].created = WallClock.now()
        } else {
            body(&slots[slot].value!)
        }
    }

    mutating func remove(_ labels: [String]) {
        if let i = existingSlot(labels) { slots[i].value = nil }
    }

    mutating func remove(at slot: Int) { slots[slot].value = nil }

    func value(_ labels: [String]) -> Value? {
        existingSlot(labels).flatMap { slots[$0].value }
    }
}

/// The series of a gauge or counter family: one Double per label set, kept in creation order.
final class ScalarSeries: Sendable {
    let name: String
    let help: String
    let unit: String?
    let labelNames: [String]
    let type: MetricType
    private let table: Mutex<SeriesTable<Double>>
    /// Set once a counter is mirrored (`set`): its start is the kernel's, not known here.
    let mirrored = Atomic<Bool>(false)

    init(name: String, help: String, unit: String?, labelNames: [String], type: MetricType) {
        self.name = name
        self.help = help
        self.unit = unit
        self.labelNames = labelNames
        self.type = type
        table = Mutex(SeriesTable(unlabelled: labelNames.isEmpty))
    }

    func slot(_ labels: [String]) -> Int {
        precondition(labels.count == labelNames.count, "\(name): wrong number of label values")
        return table.withLock { $0.slot(labels) }
    }

    func update(_ labels: [String], initial: Double, _ body: (inout Double) -> Void) {
        precondition(labels.count == labelNames.count, "\(name): wrong number of label values")
        table.withLock { $0.update(labels, initial: initial, body) }
    }

    func set(_ value: Double, at slot: Int) { table.withLock { $0.update(at: slot, initial: value) { $0 = value } } }

    func remove(_ labels: [String]) { table.withLock { $0.remove(labels) } }

    func remove(at slot: Int) { table.withLock { $0.remove(at: slot) } }

    func value(_ labels: [String]) -> Double? { table.withLock { $0.value(labels) } }

    func snapshot() -> MetricFamilySnapshot {
        let knowsStart = type == .counter && !mirrored.load(ordering: .relaxed)
        let series = table.withLock { t in
            var series: [MetricFamilySnapshot.Series] = []
            series.reserveCapacity(t.slots.count)
            for slot in t.slots {
                guard let value = slot.value else { continue }
                series.append(.init(labelValues: slot.labels, value: value, cumulativeCounts: [], created: knowsStart ? slot.created : nil))
            }
            return series
        }
        return MetricFamilySnapshot(name: name, help: help, type: type, unit: unit, labelNames: labelNames, buckets: [], series: series)
    }
}

/// One series of a gauge family, looked up once: setting it hashes no labels. A removed series
/// comes back in its place when set again.
package struct Gauge: Sendable {
    let series: ScalarSeries
    let slot: Int

    /// Sets the value.
    package func set(_ value: Double) { series.set(value, at: slot) }

    /// Removes the series (a value that is no longer known) until it is set again.
    package func remove() { series.remove(at: slot) }

    /// Sets the value, or removes the series when it is nil.
    package func set(orRemove value: Double?) {
        if let value { set(value) } else { remove() }
    }
}

/// A family of gauges: values that go up and down.
package final class GaugeFamily: MetricFamilyProtocol {
    private let series: ScalarSeries

    init(name: String, help: String, unit: String?, labelNames: [String]) {
        series = ScalarSeries(name: name, help: help, unit: unit, labelNames: labelNames, type: .gauge)
    }

    /// The family name.
    package var name: String { series.name }

    /// Sets the series with these label values (one per label name).
    package func set(_ value: Double, _ labelValues: String...) { set(value, labels: labelValues) }

    /// Sets the series with these label values.
    package func set(_ value: Double, labels: [String]) { series.update(labels, initial: value) { $0 = value } }

    /// The series with these label values, to set without a lookup each time; it is not shown
    /// until it is first set.
    package func handle(_ labelValues: String...) -> Gauge { handle(labels: labelValues) }

    /// The series with these label values, as a handle.
    package func handle(labels: [String]) -> Gauge { Gauge(series: series, slot: series.slot(labels)) }

    /// Removes a series (a value that is no longer known).
    package func remove(_ labelValues: String...) { series.remove(labelValues) }

    /// Removes the series with these label values.
    package func remove(labels: [String]) { series.remove(labels) }

    /// The current value of a series, if it exists.
    package func value(_ labelValues: String...) -> Double? { series.value(labelValues) }

    package func snapshot() -> MetricFamilySnapshot { series.snapshot() }
}

/// A family of counters: values that only go up (reset on restart). The name has no `_total`;
/// the renderer adds it to samples.
package final class CounterFamily: MetricFamilyProtocol {
    private let series: ScalarSeries

    init(name: String, help: String, unit: String?, labelNames: [String]) {
        series = ScalarSeries(name: name, help: help, unit: unit, labelNames: labelNames, type: .counter)
    }

    /// The family name, without `_total`.
    package var name: String { series.name }

    /// Adds `amount` (non-negative) to the series with these label values, creating it at 0.
    package func increment(by amount: Double = 1, _ labelValues: String...) { increment(by: amount, labels: labelValues) }

    /// Adds `amount` (non-negative) to the series with these label values.
    package func increment(by amount: Double = 1, labels: [String]) {
        precondition(amount >= 0, "\(name): counters only go up")
        series.update(labels, initial: 0) { $0 += amount }
    }

    /// Mirrors a counter kept elsewhere (the kernel's OOM-kill count, CPU seconds): sets it outright.
    package func set(_ value: Double, _ labelValues: String...) { set(value, labels: labelValues) }

    /// Mirrors a counter kept elsewhere, for the series with these label values.
    package func set(_ value: Double, labels: [String]) {
        series.mirrored.store(true, ordering: .relaxed)
        series.update(labels, initial: value) { $0 = value }
    }

    /// The current value of a series, if it exists.
    package func value(_ labelValues: String...) -> Double? { series.value(labelValues) }

    package func snapshot() -> MetricFamilySnapshot { series.snapshot() }
}

/// One histogram series' counts, as a value: a family keeps one per label set, and a check keeps
/// its duration histogram in its totals (so a snapshot carries it).
package struct HistogramState: Sendable, Equatable {
    var counts: [UInt64]  // per bucket (not cumulative), last one is +Inf
    var sum: Double = 0
    // Native buckets (when the family has them).
    var schema: Int32 = 0
    var zeroCount: UInt64 = 0
    var positive: [Int32: UInt64] = [:]
    var negative: [Int32: UInt64] = [:]

    /// Empty, for `bucketCount` bounds (without +Inf).
    init(bucketCount: Int, native: NativeHistogramOptions?) {
        counts = Array(repeating: 0, count: bucketCount + 1)
        schema = native?.schema ?? 0
    }

    /// The number of observations.
    package var count: UInt64 { counts.reduce(0, +) }

    /// Records one observation.
    mutating func observe(_ value: Double, buckets: [Double], native: NativeHistogramOptions?) {
        counts[buckets.firstIndex { value <= $0 } ?? buckets.count] += 1
        sum += value
        guard let native, !value.isNaN else { return }
        if abs(value) <= native.zeroThreshold {
            zeroCount += 1
            return
        }
        let key = NativeHistogramOptions.index(of: value, schema: schema)
        if value > 0 { positive[key, default: 0] += 1 } else { negative[key, default: 0] += 1 }
        while positive.count + negative.count > native.maxBuckets && schema > -4 {
            reduceResolution()
        }
    }

    /// Halves the resolution: bucket k at schema s is bucket ceil(k/2) at s - 1.
    mutating func reduceResolution() {
        func merge(_ buckets: [Int32: UInt64]) -> [Int32: UInt64] {
            var out: [Int32: UInt64] = [:]
            out.reserveCapacity(buckets.count / 2 + 1)
            for (k, c) in buckets { out[k > 0 ? (k + 1) / 2 : k / 2, default: 0] += c }
            return out
        }
        positive = merge(positive)
        negative = merge(negative)
        schema -= 1
    }

    /// The series as the renderers take it.
    func series(labels: [String], native: NativeHistogramOptions?, created: Double?) -> MetricFamilySnapshot.Series {
        var running: UInt64 = 0
        let cumulative = counts.map { c -> UInt64 in
            running += c
            return running
        }
        var series = MetricFamilySnapshot.Series(labelValues: labels, value: sum, cumulativeCounts: cumulative, created: created)
        if let native {
            let (positiveSpans, positiveDeltas) = NativeBuckets.encode(positive)
            let (negativeSpans, negativeDeltas) = NativeBuckets.encode(negative)
            series.native = NativeBuckets(
                schema: schema, zeroThreshold: native.zeroThreshold, zeroCount: zeroCount,
                positiveSpans: positiveSpans, positiveDeltas: positiveDeltas, negativeSpans: negativeSpans, negativeDeltas: negativeDeltas)
        }
        return series
    }
}

/// A family of histograms with fixed bucket bounds.
package final class HistogramFamily: MetricFamilyProtocol {
    typealias State = HistogramState

    package let name: String
    package let help: String
    package let unit: String?
    package let labelNames: [String]
    /// Upper bounds in increasing order, without +Inf.
    package let buckets: [Double]
    /// Set when the family also keeps native (exponential) buckets.
    package let native: NativeHistogramOptions?
    private let table: Mutex<SeriesTable<State>>

    init(name: String, help: String, unit: String?, labelNames: [String], buckets: [Double], native: NativeHistogramOptions? = nil) {
        precondition(zip(buckets, buckets.dropFirst()).allSatisfy { $0 < $1 }, "\(name): buckets must increase")
        self.name = name
        self.help = help
        self.unit = unit
        self.labelNames = labelNames
        self.buckets = buckets
        self.native = native
        table = Mutex(SeriesTable(unlabelled: labelNames.isEmpty))
    }

    /// Records one observation.
    package func observe(_ value: Double, _ labelValues: String...) {
        let (buckets, native) = (buckets, native)
        table.withLock {
            $0.update(labelValues, initial: State(bucketCount: buckets.count, native: native)) { $0.observe(value, buckets: buckets, native: native) }
        }
    }

    /// The number of observations of a series.
    package func count(_ labelValues: String...) -> UInt64 { table.withLock { $0.value(labelValues)?.counts.reduce(0, +) ?? 0 } }

    /// The q-quantile (0..1) of a series, interpolated linearly within the bucket as Prometheus does.
    package func quantile(_ q: Double, _ labelValues: String...) -> Double? {
        guard let state = table.withLock({ $0.value(labelValues) }) else { return nil }
        let total = state.counts.reduce(0, +)
        guard total > 0 else { return nil }
        let rank = q * Double(total)
        var cumulative: UInt64 = 0
        for (i, c) in state.counts.enumerated() {
            let previous = cumulative
            cumulative += c
            if Double(cumulative) >= rank && c > 0 {
                guard i < buckets.count else { return buckets.last }
                let lower = i == 0 ? 0 : buckets[i - 1]
                return lower + (buckets[i] - lower) * (rank - Double(previous)) / Double(c)
            }
        }
        return buckets.last
    }

    package func snapshot() -> MetricFamilySnapshot {
        let native = native
        let series = table.withLock { t in
            t.slots.compactMap { slot in slot.value?.series(labels: slot.labels, native: native, created: slot.created) }
        }
        return MetricFamilySnapshot(name: name, help: help, type: .histogram, unit: unit, labelNames: labelNames, buckets: buckets, series: series)
    }
}
