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

/// Anything the registry can render.
public protocol MetricFamilyProtocol: AnyObject, Sendable {
    /// A consistent copy of the family's series.
    func snapshot() -> MetricFamilySnapshot
}

/// Storage shared by the three family kinds: series keyed by label values, kept in insertion order.
struct SeriesTable<Value: Sendable>: Sendable {
    var order: [[String]] = []
    var values: [[String]: Value] = [:]
    /// When each series was created (Unix time).
    var created: [[String]: Double] = [:]

    mutating func update(_ labels: [String], initial: @autoclosure () -> Value, _ body: (inout Value) -> Void) {
        if values[labels] == nil {
            order.append(labels)
            values[labels] = initial()
            created[labels] = WallClock.now()
        }
        body(&values[labels]!)
    }

    mutating func remove(_ labels: [String]) {
        if values.removeValue(forKey: labels) != nil {
            order.removeAll { $0 == labels }
            created[labels] = nil
        }
    }
}

/// The series of a gauge or counter family: one Double per label set, kept in insertion order.
final class ScalarSeries: Sendable {
    let name: String
    let help: String
    let unit: String?
    let labelNames: [String]
    let type: MetricType
    private let table = Mutex(SeriesTable<Double>())
    /// Set once a counter is mirrored (`set`): its start is the kernel's, not known here.
    let mirrored = Atomic<Bool>(false)

    init(name: String, help: String, unit: String?, labelNames: [String], type: MetricType) {
        self.name = name
        self.help = help
        self.unit = unit
        self.labelNames = labelNames
        self.type = type
    }

    func update(_ labels: [String], initial: Double, _ body: (inout Double) -> Void) {
        precondition(labels.count == labelNames.count, "\(name): wrong number of label values")
        table.withLock { $0.update(labels, initial: initial, body) }
    }

    func remove(_ labels: [String]) { table.withLock { $0.remove(labels) } }

    func value(_ labels: [String]) -> Double? { table.withLock { $0.values[labels] } }

    func snapshot() -> MetricFamilySnapshot {
        let knowsStart = type == .counter && !mirrored.load(ordering: .relaxed)
        let series = table.withLock { t in
            t.order.map {
                MetricFamilySnapshot.Series(labelValues: $0, value: t.values[$0]!, cumulativeCounts: [], created: knowsStart ? t.created[$0] : nil)
            }
        }
        return MetricFamilySnapshot(name: name, help: help, type: type, unit: unit, labelNames: labelNames, buckets: [], series: series)
    }
}

/// A family of gauges: values that go up and down.
public final class GaugeFamily: MetricFamilyProtocol {
    private let series: ScalarSeries

    init(name: String, help: String, unit: String?, labelNames: [String]) {
        series = ScalarSeries(name: name, help: help, unit: unit, labelNames: labelNames, type: .gauge)
    }

    /// The family name.
    public var name: String { series.name }

    /// Sets the series with these label values (one per label name).
    public func set(_ value: Double, _ labelValues: String...) { set(value, labels: labelValues) }

    /// Sets the series with these label values.
    public func set(_ value: Double, labels: [String]) { series.update(labels, initial: value) { $0 = value } }

    /// Removes a series (a value that is no longer known).
    public func remove(_ labelValues: String...) { series.remove(labelValues) }

    /// The current value of a series, if it exists.
    public func value(_ labelValues: String...) -> Double? { series.value(labelValues) }

    public func snapshot() -> MetricFamilySnapshot { series.snapshot() }
}

/// A family of counters: values that only go up (reset on restart). The name has no `_total`;
/// the renderer adds it to samples.
public final class CounterFamily: MetricFamilyProtocol {
    private let series: ScalarSeries

    init(name: String, help: String, unit: String?, labelNames: [String]) {
        series = ScalarSeries(name: name, help: help, unit: unit, labelNames: labelNames, type: .counter)
    }

    /// The family name, without `_total`.
    public var name: String { series.name }

    /// Adds `amount` (non-negative) to the series with these label values, creating it at 0.
    public func increment(by amount: Double = 1, _ labelValues: String...) { increment(by: amount, labels: labelValues) }

    /// Adds `amount` (non-negative) to the series with these label values.
    public func increment(by amount: Double = 1, labels: [String]) {
        precondition(amount >= 0, "\(name): counters only go up")
        series.update(labels, initial: 0) { $0 += amount }
    }

    /// Mirrors a counter kept elsewhere (the kernel's OOM-kill count, CPU seconds): sets it outright.
    public func set(_ value: Double, _ labelValues: String...) {
        series.mirrored.store(true, ordering: .relaxed)
        series.update(labelValues, initial: value) { $0 = value }
    }

    /// The current value of a series, if it exists.
    public func value(_ labelValues: String...) -> Double? { series.value(labelValues) }

    public func snapshot() -> MetricFamilySnapshot { series.snapshot() }
}

/// A family of histograms with fixed bucket bounds.
public final class HistogramFamily: MetricFamilyProtocol {
    struct State: Sendable {
        var counts: [UInt64]  // per bucket (not cumulative), last one is +Inf
        var sum: Double = 0
    }

    public let name: String
    public let help: String
    public let unit: String?
    public let labelNames: [String]
    /// Upper bounds in increasing order, without +Inf.
    public let buckets: [Double]
    private let table = Mutex(SeriesTable<State>())

    init(name: String, help: String, unit: String?, labelNames: [String], buckets: [Double]) {
        precondition(zip(buckets, buckets.dropFirst()).allSatisfy { $0 < $1 }, "\(name): buckets must increase")
        self.name = name
        self.help = help
        self.unit = unit
        self.labelNames = labelNames
        self.buckets = buckets
    }

    /// Records one observation.
    public func observe(_ value: Double, _ labelValues: String...) {
        let index = buckets.firstIndex { value <= $0 } ?? buckets.count
        let bucketCount = buckets.count + 1
        table.withLock {
            $0.update(labelValues, initial: State(counts: Array(repeating: 0, count: bucketCount))) { state in
                state.counts[index] += 1
                state.sum += value
            }
        }
    }

    /// The number of observations of a series.
    public func count(_ labelValues: String...) -> UInt64 { table.withLock { $0.values[labelValues]?.counts.reduce(0, +) ?? 0 } }

    /// The q-quantile (0..1) of a series, interpolated linearly within the bucket as Prometheus does.
    public func quantile(_ q: Double, _ labelValues: String...) -> Double? {
        guard let state = table.withLock({ $0.values[labelValues] }) else { return nil }
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

    public func snapshot() -> MetricFamilySnapshot {
        let series = table.withLock { t in
            t.order.map { labels -> MetricFamilySnapshot.Series in
                let state = t.values[labels]!
                var running: UInt64 = 0
                let cumulative = state.counts.map { c -> UInt64 in
                    running += c
                    return running
                }
                return MetricFamilySnapshot.Series(labelValues: labels, value: state.sum, cumulativeCounts: cumulative, created: t.created[labels])
            }
        }
        return MetricFamilySnapshot(name: name, help: help, type: .histogram, unit: unit, labelNames: labelNames, buckets: buckets, series: series)
    }
}
