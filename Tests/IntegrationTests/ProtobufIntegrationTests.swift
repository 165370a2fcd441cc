import Foundation
import TestSupport
import Testing

/// The protobuf exposition and the native histogram, read by an independent decoder and scraped by
/// real Prometheus servers with and without native histograms.
@Suite("Protobuf exposition and native histograms", .serialized, .offCooperativePool)
struct ProtobufIntegrationTests {
    static let protobufAccept = "application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=delimited"
    static let protobufContentType = "application/vnd.google.protobuf; proto=io.prometheus.client.MetricFamily; encoding=delimited"
    static let proto = TestEnvironment.packageRoot + "/Sources/MemoryMonitor/Metrics/Protobuf/metrics.proto"

    /// Decodes a delimited body with Python's protobuf runtime (metrics_pb2 generated from our proto).
    static func decode(_ body: [UInt8]) throws -> [[String: Any]] {
        let result = try TestEnvironment.run(
            TestEnvironment.python, [TestEnvironment.packageRoot + "/Tests/Peers/decode_protobuf.py", proto], input: body)
        #expect(result.status == 0, "decoder: \(result.stderr)")
        return result.stdout.split(separator: "\n").compactMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }
    }

    /// `# TYPE` names of a text 0.0.4 body.
    static func textFamilies(_ body: [UInt8]) -> Set<String> {
        Set(String(decoding: body, as: UTF8.self).split(separator: "\n").compactMap { line in
            line.hasPrefix("# TYPE ") ? String(line.split(separator: " ")[2]) : nil
        })
    }

    static func uint(_ value: Any?) -> UInt64? {
        // MessageToDict writes 64-bit integers as strings.
        if let s = value as? String { return UInt64(s) }
        return (value as? NSNumber)?.uint64Value
    }

    @Test func pythonProtobufDecodesEveryFamilyAndTheNativeHistogram() throws {
        let exporter = try Exporter(config: #"{"monitoring": {"check_interval": 0.2, "scrape_max_age_seconds": 300}}"#)
        defer { exporter.stop() }
        // A few checks, so the duration histogram has observations in several buckets.
        _ = exporter.child.wait(seconds: 10) { (try? exporter.metrics().bodyText.contains("memory_checks_total 5")) == true }

        var families: [[String: Any]] = []
        var names: Set<String> = []
        var text: Set<String> = []
        // Two requests can fall either side of a check that adds a family; the sets agree on a retry.
        for _ in 0..<5 {
            let response = try exporter.metrics(accept: Self.protobufAccept)
            #expect(response.status == 200)
            #expect(response.headers["content-type"] == Self.protobufContentType)
            families = try Self.decode(response.body)
            names = Set(families.compactMap { $0["name"] as? String })
            text = Self.textFamilies(try exporter.metrics().body)
            if names == text { break }
        }
        #expect(!families.isEmpty)
        #expect(names == text, "protobuf only: \(names.subtracting(text)); text only: \(text.subtracting(names))")

        func family(_ name: String) -> [String: Any]? { families.first { $0["name"] as? String == name } }
        func firstMetric(_ name: String) -> [String: Any]? { (family(name)?["metric"] as? [[String: Any]])?.first }

        // Counters carry created_timestamp, except a mirrored kernel counter.
        #expect(family("memory_checks_total")?["type"] as? String == "COUNTER")
        #expect((firstMetric("memory_checks_total")?["counter"] as? [String: Any])?["created_timestamp"] != nil)
        #expect((firstMetric("process_cpu_seconds_total")?["counter"] as? [String: Any])?["created_timestamp"] == nil)
        #expect(family("process_resident_memory_bytes")?["unit"] as? String == "bytes")

        // The check-duration histogram: classic buckets and native buckets in one message.
        #expect(family("memory_check_duration_seconds")?["type"] as? String == "HISTOGRAM")
        let histogram = try #require(firstMetric("memory_check_duration_seconds")?["histogram"] as? [String: Any])
        let sampleCount = try #require(Self.uint(histogram["sample_count"]))
        #expect(sampleCount >= 5)
        let bounds = (histogram["bucket"] as? [[String: Any]])?.compactMap { ($0["upper_bound"] as? NSNumber)?.doubleValue }
        #expect(bounds?.count == 17)
        #expect(bounds?.first == 0.00001)
        #expect(histogram["schema"] as? Int == 3)
        let spans = try #require(histogram["positive_span"] as? [[String: Any]])
        let deltas = (histogram["positive_delta"] as? [Any])?.compactMap { ($0 as? String).flatMap { Int64($0) } ?? ($0 as? NSNumber)?.int64Value } ?? []
        let bucketCount = spans.reduce(0) { $0 + Int(Self.uint($1["length"]) ?? 0) }
        #expect(bucketCount == deltas.count)
        #expect(bucketCount <= 160)
        // Counts from deltas: each non-negative, and together every observation.
        var running: Int64 = 0
        var total: Int64 = 0
        for delta in deltas {
            running += delta
            #expect(running >= 0)
            total += running
        }
        #expect(UInt64(total) + (Self.uint(histogram["zero_count"]) ?? 0) == sampleCount)
        print("protobuf: \(families.count) families, check-duration native: schema 3, \(bucketCount) buckets in \(spans.count) spans, \(sampleCount) observations")
    }

    /// Prometheus 2.42 with native histograms negotiates protobuf and stores the native histogram;
    /// without the flag the same binary is scraped as OpenMetrics and the classic buckets stay.
    @Test func prometheusScrapesTheNativeHistogram() throws {
        let exporter = try Exporter(config: #"{"monitoring": {"check_interval": 0.2}}"#)
        defer { exporter.stop() }
        let config = """
            global:
              scrape_interval: 1s
              scrape_timeout: 1s
            scrape_configs:
              - job_name: memory-monitor
                static_configs:
                  - targets: ["127.0.0.1:\(exporter.metricsPort)"]
            """
        let native = try PrometheusServer(config: config, arguments: ["--enable-feature=native-histograms"])
        defer { native.stop() }
        let classic = try PrometheusServer(config: config)
        defer { classic.stop() }

        // Negotiation, from the exporter's own count of rendered bodies per format.
        #expect(native.waitForData(#"memory_exposition_renders_total{format="protobuf"} > 0"#, seconds: 30))
        #expect(classic.waitForData(#"memory_exposition_renders_total{format="openmetrics"} > 0"#, seconds: 30))

        // The native server stores a native sample (a "histogram" field, not "value").
        #expect(native.waitForData("memory_check_duration_seconds", seconds: 30))
        let stored = try native.api("/api/v1/query?query=memory_check_duration_seconds")
        let sample = ((stored["data"] as? [String: Any])?["result"] as? [[String: Any]])?.first
        #expect(sample?["histogram"] != nil, "no native sample: \(stored)")

        // The quantile on the native histogram returns a value.
        let quantileQuery = "histogram_quantile(0.95, rate(memory_check_duration_seconds[1m]))"
        #expect(native.waitForData(quantileQuery + " > 0", seconds: 30))
        let quantile = try native.query(quantileQuery)
        print("native: \(quantileQuery) -> \(quantile.body)")
        let classicOnNative = try native.query("memory_check_duration_seconds_bucket").count
        print("native: classic _bucket series on the native-histograms server: \(classicOnNative)")

        // The server without the flag keeps the classic buckets, and its quantile works too.
        #expect(classic.waitForData(#"memory_check_duration_seconds_bucket{le="0.001"}"#, seconds: 30))
        let classicQuery = "histogram_quantile(0.95, rate(memory_check_duration_seconds_bucket[1m]))"
        #expect(classic.waitForData(classicQuery + " > 0", seconds: 30))
        print("classic: \(classicQuery) -> \(try classic.query(classicQuery).body)")
        #expect(try classic.query("memory_check_duration_seconds_bucket").count == 18)
    }
}
