import SwiftProtobuf

/// The protobuf exposition: one length-delimited `io.prometheus.client.MetricFamily` per family
/// (varint length, then the message), the format Prometheus asks for first when it scrapes
/// native histograms. Built with the code generated from `Protobuf/metrics.proto`.
enum ProtobufExposition {
    static func render(_ families: [MetricFamilySnapshot]) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(16384)
        for family in families where !family.series.isEmpty {
            let message = self.message(family)
            let bytes: [UInt8]
            do {
                bytes = try message.serializedBytes()
            } catch {
                // Only a message over 2 GiB or with missing required fields fails; neither exists here.
                assertionFailure("\(family.name): \(error)")
                continue
            }
            appendVarint(UInt64(bytes.count), to: &out)
            out.append(contentsOf: bytes)
        }
        return out
    }

    /// One family as its protobuf message. A counter's name carries `_total`, as in text 0.0.4.
    static func message(_ family: MetricFamilySnapshot) -> Io_Prometheus_Client_MetricFamily {
        var message = Io_Prometheus_Client_MetricFamily()
        message.name = family.type == .counter ? family.name + "_total" : family.name
        message.help = family.help
        if let unit = family.unit { message.unit = unit }
        switch family.type {
        case .counter: message.type = .counter
        case .gauge: message.type = .gauge
        case .histogram: message.type = .histogram
        }
        message.metric = family.series.map { series in
            var metric = Io_Prometheus_Client_Metric()
            metric.label = zip(family.labelNames, series.labelValues).map { name, value in
                var pair = Io_Prometheus_Client_LabelPair()
                pair.name = name
                pair.value = value
                return pair
            }
            switch family.type {
            case .gauge:
                metric.gauge.value = series.value
            case .counter:
                metric.counter.value = series.value
                if let created = series.created { metric.counter.createdTimestamp = timestamp(created) }
            case .histogram:
                metric.histogram = histogram(family, series)
            }
            return metric
        }
        return message
    }

    private static func histogram(_ family: MetricFamilySnapshot, _ series: MetricFamilySnapshot.Series) -> Io_Prometheus_Client_Histogram {
        var h = Io_Prometheus_Client_Histogram()
        h.sampleCount = series.cumulativeCounts.last ?? 0
        h.sampleSum = series.value
        // Classic buckets without +Inf (sample_count is its count), so classic queries keep working.
        h.bucket = zip(family.buckets, series.cumulativeCounts).map { bound, count in
            var bucket = Io_Prometheus_Client_Bucket()
            bucket.upperBound = bound
            bucket.cumulativeCount = count
            return bucket
        }
        if let created = series.created { h.createdTimestamp = timestamp(created) }
        if let native = series.native {
            h.schema = native.schema
            h.zeroThreshold = native.zeroThreshold
            h.zeroCount = native.zeroCount
            h.positiveSpan = native.positiveSpans.map(span)
            h.positiveDelta = native.positiveDeltas
            h.negativeSpan = native.negativeSpans.map(span)
            h.negativeDelta = native.negativeDeltas
            // A native histogram without observations still needs a span to be told from a classic one.
            if h.positiveSpan.isEmpty && h.negativeSpan.isEmpty { h.positiveSpan = [Io_Prometheus_Client_BucketSpan()] }
        }
        return h
    }

    private static func span(_ s: NativeBuckets.Span) -> Io_Prometheus_Client_BucketSpan {
        var out = Io_Prometheus_Client_BucketSpan()
        out.offset = s.offset
        out.length = s.length
        return out
    }

    private static func timestamp(_ unixSeconds: Double) -> Google_Protobuf_Timestamp {
        let seconds = unixSeconds.rounded(.down)
        return Google_Protobuf_Timestamp(seconds: Int64(seconds), nanos: Int32(((unixSeconds - seconds) * 1e9).rounded(.down)))
    }

    static func appendVarint(_ value: UInt64, to out: inout [UInt8]) {
        var v = value
        while v >= 0x80 {
            out.append(UInt8(truncatingIfNeeded: v) | 0x80)
            v >>= 7
        }
        out.append(UInt8(v))
    }
}
