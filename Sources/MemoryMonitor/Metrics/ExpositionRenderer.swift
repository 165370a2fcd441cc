/// Renders family snapshots as Prometheus text 0.0.4, OpenMetrics 1.0.0 or delimited protobuf.
public enum ExpositionRenderer {
    /// The body for `families` in `format` (UTF-8 text, or protobuf bytes).
    public static func render(_ families: [MetricFamilySnapshot], format: ExpositionFormat) -> [UInt8] {
        if format == .protobuf { return ProtobufExposition.render(families) }
        var out: [UInt8] = []
        out.reserveCapacity(8192)
        let om = format == .openMetrics
        // A family without samples is left out in both formats (OpenMetrics would show an empty family).
        for family in families where !family.series.isEmpty {
            // Text 0.0.4 names a counter family with its _total; OpenMetrics names it without.
            let familyName = (family.type == .counter && !om) ? family.name + "_total" : family.name
            out.append(contentsOf: "# HELP \(familyName) ".utf8)
            appendEscaped(family.help, escapeQuotes: om, to: &out)
            out.append(contentsOf: "\n# TYPE \(familyName) \(family.type.rawValue)\n".utf8)
            if om, let unit = family.unit { out.append(contentsOf: "# UNIT \(familyName) \(unit)\n".utf8) }
            for series in family.series {
                switch family.type {
                case .gauge:
                    appendSample(family.name, family.labelNames, series.labelValues, nil, series.value, to: &out)
                case .counter:
                    appendSample(family.name + "_total", family.labelNames, series.labelValues, nil, series.value, to: &out)
                    if om, let created = series.created {
                        appendSample(family.name + "_created", family.labelNames, series.labelValues, nil, created, to: &out)
                    }
                case .histogram:
                    for (i, count) in series.cumulativeCounts.enumerated() {
                        let le = i < family.buckets.count ? formatBound(family.buckets[i]) : "+Inf"
                        appendSample(family.name + "_bucket", family.labelNames, series.labelValues, ("le", le), Double(count), to: &out)
                    }
                    appendSample(family.name + "_sum", family.labelNames, series.labelValues, nil, series.value, to: &out)
                    appendSample(
                        family.name + "_count", family.labelNames, series.labelValues, nil, Double(series.cumulativeCounts.last ?? 0), to: &out)
                    if om, let created = series.created {
                        appendSample(family.name + "_created", family.labelNames, series.labelValues, nil, created, to: &out)
                    }
                }
            }
        }
        if om { out.append(contentsOf: "# EOF\n".utf8) }
        return out
    }

    private static func appendSample(
        _ name: String, _ labelNames: [String], _ labelValues: [String], _ extra: (String, String)?, _ value: Double,
        to out: inout [UInt8]
    ) {
        out.append(contentsOf: name.utf8)
        if !labelNames.isEmpty || extra != nil {
            out.append(UInt8(ascii: "{"))
            var first = true
            for (labelName, labelValue) in zip(labelNames, labelValues) {
                if !first { out.append(UInt8(ascii: ",")) }
                first = false
                out.append(contentsOf: labelName.utf8)
                out.append(contentsOf: "=\"".utf8)
                appendEscaped(labelValue, escapeQuotes: true, to: &out)
                out.append(UInt8(ascii: "\""))
            }
            if let (labelName, labelValue) = extra {
                if !first { out.append(UInt8(ascii: ",")) }
                out.append(contentsOf: "\(labelName)=\"\(labelValue)\"".utf8)
            }
            out.append(UInt8(ascii: "}"))
        }
        out.append(UInt8(ascii: " "))
        out.append(contentsOf: formatValue(value).utf8)
        out.append(UInt8(ascii: "\n"))
    }

    /// Backslash, newline and (in label values and OpenMetrics HELP) double quote are escaped.
    static func appendEscaped(_ text: String, escapeQuotes: Bool, to out: inout [UInt8]) {
        for byte in text.utf8 {
            switch byte {
            case UInt8(ascii: "\\"): out.append(contentsOf: "\\\\".utf8)
            case UInt8(ascii: "\n"): out.append(contentsOf: "\\n".utf8)
            case UInt8(ascii: "\"") where escapeQuotes: out.append(contentsOf: "\\\"".utf8)
            default: out.append(byte)
            }
        }
    }

    /// Sample values: integers without a fraction, NaN and infinities as both formats spell them.
    static func formatValue(_ value: Double) -> String {
        if value.isNaN { return "NaN" }
        if value.isInfinite { return value > 0 ? "+Inf" : "-Inf" }
        if value == value.rounded(), abs(value) < 1e15 { return String(Int64(value)) }
        return value.description
    }

    /// Bucket bounds keep a fraction ("1.0"), the canonical form OpenMetrics asks for.
    static func formatBound(_ bound: Double) -> String {
        if bound.isInfinite { return bound > 0 ? "+Inf" : "-Inf" }
        return bound == bound.rounded() && abs(bound) < 1e15 ? "\(Int64(bound)).0" : bound.description
    }
}
