import Synchronization

/// The families the exporter serves, in the order they were registered.
package final class MetricRegistry: Sendable {
    private let families = Mutex<[any MetricFamilyProtocol]>([])
    private let names = Mutex<Set<String>>([])

    /// An empty registry.
    package init() {}

    /// Registers a gauge family. `unit` is the suffix the name ends with, for OpenMetrics `# UNIT`.
    package func gauge(_ name: String, help: String, unit: String? = nil, labels: [String] = []) -> GaugeFamily {
        add(GaugeFamily(name: name, help: help, unit: unit, labelNames: labels), name: name, unit: unit)
    }

    /// Registers a counter family; `name` is without `_total`.
    package func counter(_ name: String, help: String, unit: String? = nil, labels: [String] = []) -> CounterFamily {
        precondition(!name.hasSuffix("_total"), "counter family names are given without _total")
        return add(CounterFamily(name: name, help: help, unit: unit, labelNames: labels), name: name, unit: unit)
    }

    /// Registers a histogram family with fixed bucket upper bounds (without +Inf), and with native
    /// (exponential) buckets too when `native` is given; the text formats carry only the classic
    /// buckets, the protobuf exposition carries both.
    package func histogram(
        _ name: String, help: String, unit: String? = nil, labels: [String] = [], buckets: [Double], native: NativeHistogramOptions? = nil
    ) -> HistogramFamily {
        add(HistogramFamily(name: name, help: help, unit: unit, labelNames: labels, buckets: buckets, native: native), name: name, unit: unit)
    }

    /// Snapshots of every family, in registration order.
    package func snapshot() -> [MetricFamilySnapshot] {
        families.withLock { $0 }.map { $0.snapshot() }
    }

    private func add<F: MetricFamilyProtocol>(_ family: F, name: String, unit: String?) -> F {
        precondition(MetricRegistry.isValidName(name), "invalid metric name \(name)")
        // OpenMetrics: a family with a UNIT has the unit as its name's suffix; strict parsers reject anything else.
        precondition(unit.map { name.hasSuffix("_" + $0) } ?? true, "metric family \(name) does not end in its unit \(unit ?? "")")
        let inserted = names.withLock { $0.insert(name).inserted }
        precondition(inserted, "metric family \(name) registered twice")
        families.withLock { $0.append(family) }
        return family
    }

    /// `[a-zA-Z_:][a-zA-Z0-9_:]*`, the name rule both formats share.
    static func isValidName(_ name: String) -> Bool {
        guard let first = name.utf8.first, first.isNameStart else { return false }
        return name.utf8.allSatisfy { $0.isNameStart || ($0 >= 0x30 && $0 <= 0x39) }
    }
}

extension UInt8 {
    fileprivate var isNameStart: Bool {
        (self >= 0x41 && self <= 0x5A) || (self >= 0x61 && self <= 0x7A) || self == 0x5F || self == 0x3A
    }
}
