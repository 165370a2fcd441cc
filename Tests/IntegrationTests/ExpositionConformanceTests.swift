import Foundation
import TestSupport
import Testing

/// The exporter's bodies checked by the real tools Prometheus users rely on.
@Suite("Exposition conformance with real tools", .serialized, .offCooperativePool)
struct ExpositionConformanceTests {
    // A long max age so plain, gzip and OpenMetrics bodies come from the same sample.
    static let config = #"{"monitoring": {"check_interval": 60, "scrape_max_age_seconds": 300}}"#

    @Test func promtoolAcceptsTheTextFormat() throws {
        let exporter = try Exporter(config: Self.config)
        let body = try exporter.metrics()
        #expect(body.status == 200)
        let result = try TestEnvironment.run("/usr/bin/promtool", ["check", "metrics"], input: body.body)
        #expect(result.status == 0, "promtool: \(result.stdout) \(result.stderr)")
        #expect(exporter.stop() == 0)
    }

    @Test func prometheusClientStrictParserAcceptsOpenMetrics() throws {
        let exporter = try Exporter(config: Self.config)
        let body = try exporter.metrics(accept: "application/openmetrics-text;version=1.0.0")
        #expect(body.headers["content-type"] == "application/openmetrics-text; version=1.0.0; charset=utf-8")
        let script = """
            import sys
            from prometheus_client.openmetrics.parser import text_string_to_metric_families
            families = {f.name: f for f in text_string_to_metric_families(sys.stdin.read())}
            for name in sorted(families):
                f = families[name]
                print(f"{name}|{f.type}|{f.unit}")
            """
        let result = try python(script, input: body.body)
        #expect(result.status == 0, "parser: \(result.stderr)")
        let lines = Set(result.stdout.split(separator: "\n").map(String.init))
        for expected in [
            "memory_usage_bytes|gauge|", "memory_alerts_sent|counter|", "memory_check_duration_seconds|histogram|seconds",
            "memory_cleanup_operations|counter|", "memory_leaks_detected|counter|", "process_cpu_seconds|counter|seconds",
            "process_resident_memory_bytes|gauge|bytes", "memory_threshold_bytes|gauge|bytes",
        ] {
            #expect(lines.contains(expected), "missing \(expected) in \(lines.sorted())")
        }
        #expect(exporter.stop() == 0)
    }

    @Test func gzipBodiesDecompressToThePlainBodies() throws {
        let exporter = try Exporter(config: Self.config)
        // At start a scrape's own check and the loop's first one can both run; after them, with a
        // 60 s interval, every body comes from one check.
        #expect(waitFor(10) { (try? exporter.metrics().body) == (try? exporter.metrics().body) })
        for accept in [nil, "application/openmetrics-text", ProtobufIntegrationTests.protobufAccept] {
            let plain = try exporter.metrics(accept: accept)
            let gz = try exporter.metrics(accept: accept, gzip: true)
            #expect(gz.headers["content-encoding"] == "gzip")
            #expect(gz.headers["vary"] == "Accept, Accept-Encoding")
            // Python's gzip module, an implementation independent of ours.
            // As hex: the protobuf body is not text.
            let result = try python("import sys, gzip; sys.stdout.write(gzip.decompress(sys.stdin.buffer.read()).hex())", input: gz.body)
            #expect(result.status == 0)
            #expect(result.stdout == plain.body.map { String($0, radix: 16).count == 1 ? "0" + String($0, radix: 16) : String($0, radix: 16) }.joined())
        }
        #expect(exporter.stop() == 0)
    }
}
