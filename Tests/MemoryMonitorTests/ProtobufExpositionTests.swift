import Glibc
import SwiftProtobuf
import TestSupport
import Testing
@testable import MemoryMonitor

@Suite("Native histograms and protobuf exposition", .offCooperativePool)
struct ProtobufExpositionTests {
    /// Bucket i at schema s holds (2^((i-1)/2^s), 2^(i/2^s)]: a bound itself falls in the bucket
    /// it closes, the next representable value in the next one.
    @Test(arguments: [
        (1.0, Int32(3), Int32(0)), (1.0.nextUp, 3, 1), (2.0, 3, 8), (2.0.nextUp, 3, 9), (0.5, 3, -8),
        (1.0, 0, 0), (2.0, 0, 1), (3.0, 0, 2), (4.0, 0, 2), (4.0.nextUp, 0, 3), (0.001, 0, -9),
        (4.0, -1, 1), (4.0.nextUp, -1, 2), (16.0, -2, 1), (16.0.nextUp, -2, 2),
    ])
    func bucketIndexIsExactAtBounds(_ value: Double, _ schema: Int32, _ expected: Int32) {
        #expect(NativeHistogramOptions.index(of: value, schema: schema) == expected)
    }

    /// Every index agrees with the definition: upperBound(i-1) < v <= upperBound(i).
    @Test func indexMatchesUpperBounds() {
        var generator = SystemRandomNumberGenerator()
        for schema in Int32(-2)...8 {
            for _ in 0..<500 {
                let v = exp2(Double.random(in: -20...10, using: &generator))
                let i = NativeHistogramOptions.index(of: v, schema: schema)
                #expect(v <= NativeBuckets.upperBound(index: i, schema: schema) * (1 + 1e-12), "v \(v) schema \(schema) index \(i)")
                #expect(v > NativeBuckets.upperBound(index: i - 1, schema: schema) * (1 - 1e-12), "v \(v) schema \(schema) index \(i)")
            }
        }
    }

    @Test func spansAndDeltasRoundTrip() {
        let counts: [Int32: UInt64] = [-3: 2, -2: 5, 0: 1, 4: 7, 5: 7, 6: 1]
        let (spans, deltas) = NativeBuckets.encode(counts)
        #expect(spans == [.init(offset: -3, length: 2), .init(offset: 1, length: 1), .init(offset: 3, length: 3)])
        #expect(deltas == [2, 3, -4, 6, 0, -6])
        let buckets = NativeBuckets(
            schema: 3, zeroThreshold: 0, zeroCount: 0, positiveSpans: spans, positiveDeltas: deltas, negativeSpans: [], negativeDeltas: [])
        #expect(buckets.counts() == counts)
    }

    /// Check durations span 10 µs to seconds: at schema 3 that is at most 8 buckets per power of
    /// two; past maxBuckets the resolution halves, and no observation is lost.
    @Test func resolutionHalvesPastTheBucketLimit() {
        let r = MetricRegistry()
        let h = r.histogram("d_seconds", help: "d", buckets: [1], native: NativeHistogramOptions(schema: 3, maxBuckets: 20))
        var observed: UInt64 = 0
        var v = 1e-5
        while v < 10 {
            h.observe(v)
            observed += 1
            v *= 1.05
        }
        let native = r.snapshot()[0].series[0].native!
        let counts = native.counts()
        #expect(counts.count <= 20)
        #expect(native.schema < 3)
        #expect(counts.values.reduce(0, +) == observed)
        // Each observation still sits under its bucket's upper bound at the reduced schema.
        #expect(NativeHistogramOptions.index(of: 1e-5, schema: native.schema) == counts.keys.min())
    }

    @Test func checkDurationIsNativeAtSchema3() {
        var totals = CheckTotals(startedAt: 0)
        for seconds in [0.000_3, 0.000_3, 0.002] { totals.recordCheck(seconds: seconds, at: 0, overran: false) }
        let sample = Sample.fixture(status: nil, host: nil)
        let family = CheckFamilies.families(sample: sample, totals: totals).first { $0.name == "memory_check_duration_seconds" }!
        let native = family.series[0].native!
        #expect(native.schema == 3)
        #expect(native.counts() == [NativeHistogramOptions.index(of: 0.0003, schema: 3): 2, NativeHistogramOptions.index(of: 0.002, schema: 3): 1])
        // The classic buckets are still there.
        #expect(family.buckets == CheckFamilies.durationBuckets)
    }

    /// Splits a delimited stream and decodes each message with the generated types.
    static func decode(_ bytes: [UInt8]) throws -> [Io_Prometheus_Client_MetricFamily] {
        var out: [Io_Prometheus_Client_MetricFamily] = []
        var i = 0
        while i < bytes.count {
            var length = 0
            var shift = 0
            while true {
                let b = bytes[i]
                i += 1
                length |= Int(b & 0x7f) << shift
                shift += 7
                if b < 0x80 { break }
            }
            out.append(try Io_Prometheus_Client_MetricFamily(serializedBytes: Array(bytes[i..<(i + length)])))
            i += length
        }
        return out
    }

    @Test func protobufCarriesEveryFamilyWithCreatedAndNativeBuckets() throws {
        let r = MetricRegistry()
        r.gauge("demo_size_bytes", help: "Size.", unit: "bytes", labels: ["path"]).set(1024, "/a")
        let c = r.counter("demo_events", help: "Events.", labels: ["kind"])
        c.increment(by: 3, "x")
        r.counter("kernel_things", help: "Mirrored.").set(5)
        _ = r.gauge("empty_thing", help: "No samples.")
        let h = r.histogram("demo_latency_seconds", help: "Latency.", unit: "seconds", buckets: [0.001, 1, 2], native: NativeHistogramOptions())
        for v in [0.0005, 0.5, 0.5, 5] { h.observe(v) }

        let families = try Self.decode(ExpositionRenderer.render(r.snapshot(), format: .protobuf))
        #expect(families.map(\.name) == ["demo_size_bytes", "demo_events_total", "kernel_things_total", "demo_latency_seconds"])

        #expect(families[0].type == .gauge)
        #expect(families[0].unit == "bytes")
        #expect(families[0].metric[0].label.map { "\($0.name)=\($0.value)" } == ["path=/a"])
        #expect(families[0].metric[0].gauge.value == 1024)

        #expect(families[1].type == .counter)
        #expect(families[1].metric[0].counter.value == 3)
        #expect(families[1].metric[0].counter.hasCreatedTimestamp)
        #expect(abs(Double(families[1].metric[0].counter.createdTimestamp.seconds) - WallClock.now()) < 60)
        // A mirrored counter's start is not known.
        #expect(!families[2].metric[0].counter.hasCreatedTimestamp)

        let histogram = families[3].metric[0].histogram
        #expect(families[3].type == .histogram)
        #expect(histogram.sampleCount == 4)
        #expect(histogram.sampleSum == 6.0005)
        #expect(histogram.bucket.map(\.upperBound) == [0.001, 1, 2])
        #expect(histogram.bucket.map(\.cumulativeCount) == [1, 3, 3])
        #expect(histogram.hasCreatedTimestamp)
        #expect(histogram.schema == 3)
        #expect(histogram.zeroThreshold == 0x1p-128)
        let native = NativeBuckets(
            schema: histogram.schema, zeroThreshold: histogram.zeroThreshold, zeroCount: histogram.zeroCount,
            positiveSpans: histogram.positiveSpan.map { .init(offset: $0.offset, length: $0.length) }, positiveDeltas: histogram.positiveDelta,
            negativeSpans: [], negativeDeltas: [])
        let counts = native.counts()
        #expect(counts.values.reduce(0, +) == 4)
        #expect(counts[NativeHistogramOptions.index(of: 0.5, schema: 3)] == 2)
        #expect(counts[NativeHistogramOptions.index(of: 5, schema: 3)] == 1)
    }

    @Test func aClassicHistogramHasNoNativeFields() throws {
        let r = MetricRegistry()
        r.histogram("plain_seconds", help: "p", buckets: [1]).observe(0.5)
        let h = try Self.decode(ExpositionRenderer.render(r.snapshot(), format: .protobuf))[0].metric[0].histogram
        #expect(!h.hasSchema && h.positiveSpan.isEmpty && !h.hasZeroThreshold)
    }

    @Test func emptyRegistryIsAnEmptyBody() {
        let r = MetricRegistry()
        _ = r.gauge("nothing", help: "n")
        #expect(ExpositionRenderer.render(r.snapshot(), format: .protobuf).isEmpty)
    }
}
