import MemoryMonitor
import Testing
@testable import MemoryMonitorHTTP
import TestSupport

@Suite("Content negotiation", .offCooperativePool)
struct NegotiationTests {
    @Test(arguments: [
        // Prometheus 2.x (2.42 on Debian 12).
        ("application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1",
         ExpositionFormat.openMetrics),
        // Prometheus 3.x.
        ("application/openmetrics-text;version=1.0.0;escaping=allow-utf-8;q=0.6,application/openmetrics-text;version=0.0.1;q=0.5,text/plain;version=1.0.0;escaping=allow-utf-8;q=0.4,text/plain;version=0.0.4;q=0.3,*/*;q=0.2",
         .openMetrics),
        // Prometheus 3.x told to prefer the classic text format.
        ("text/plain;version=0.0.4;q=0.9,application/openmetrics-text;version=1.0.0;q=0.5", .prometheusText),
        ("text/plain", .prometheusText),
        ("*/*", .prometheusText),
        ("application/openmetrics-text", .openMetrics),
        ("application/openmetrics-text; version=\"1.0.0\"", .openMetrics),
        ("application/openmetrics-text;q=0, text/plain", .prometheusText),
        ("application/openmetrics-text;version=2.0.0", .prometheusText),
        ("application/json", .prometheusText),
        ("", .prometheusText),
        ("application/openmetrics-text;q=abc", .prometheusText),
    ])
    func accept(_ header: String, _ expected: ExpositionFormat) {
        #expect(ContentNegotiation.format(accept: header) == expected)
    }

    /// The Accept headers Prometheus sends, and the Content-Type each gets (docs/metrics.md has
    /// this table).
    static let prometheusHeaders: [(String, String, String)] = [
        ("2.42 default",
         "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1",
         "application/openmetrics-text; version=1.0.0; charset=utf-8"),
        ("2.42 --enable-feature=native-histograms",
         "application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=delimited,application/openmetrics-text;version=1.0.0;q=0.8,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1",
         "application/vnd.google.protobuf; proto=io.prometheus.client.MetricFamily; encoding=delimited"),
        ("2.49+ default scrape_protocols",
         "application/openmetrics-text;version=1.0.0;q=0.5,application/openmetrics-text;version=0.0.1;q=0.4,text/plain;version=0.0.4;q=0.3,*/*;q=0.2",
         "application/openmetrics-text; version=1.0.0; charset=utf-8"),
        ("3.x default",
         "application/openmetrics-text;version=1.0.0;escaping=allow-utf-8;q=0.6,application/openmetrics-text;version=0.0.1;q=0.5,text/plain;version=1.0.0;escaping=allow-utf-8;q=0.4,text/plain;version=0.0.4;q=0.3,*/*;q=0.2",
         "application/openmetrics-text; version=1.0.0; charset=utf-8; escaping=allow-utf-8"),
        ("3.x scrape_protocols: [PrometheusText1.0.0]",
         "text/plain;version=1.0.0;escaping=allow-utf-8,*/*;q=0.1",
         "text/plain; version=1.0.0; charset=utf-8; escaping=allow-utf-8"),
        ("3.x with metric_name_escaping_scheme: underscores",
         "text/plain;version=1.0.0;escaping=underscores;q=0.5,text/plain;version=0.0.4;q=0.4,*/*;q=0.1",
         "text/plain; version=1.0.0; charset=utf-8; escaping=underscores"),
        ("the allow-utf8 spelling",
         "text/plain;version=1.0.0;escaping=allow-utf8",
         "text/plain; version=1.0.0; charset=utf-8; escaping=allow-utf-8"),
        ("3.x native histograms (protobuf first)",
         "application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=delimited;q=0.6,application/openmetrics-text;version=1.0.0;escaping=allow-utf-8;q=0.5,application/openmetrics-text;version=0.0.1;q=0.4,text/plain;version=1.0.0;escaping=allow-utf-8;q=0.3,text/plain;version=0.0.4;q=0.2,*/*;q=0.1",
         "application/vnd.google.protobuf; proto=io.prometheus.client.MetricFamily; encoding=delimited"),
        ("protobuf with an escaping parameter",
         "application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=delimited;escaping=allow-utf-8;q=0.6,application/openmetrics-text;version=1.0.0;escaping=allow-utf-8;q=0.5,*/*;q=0.1",
         "application/vnd.google.protobuf; proto=io.prometheus.client.MetricFamily; encoding=delimited; escaping=allow-utf-8"),
        ("2.49+ scrape_protocols: [OpenMetricsText1.0.0, PrometheusProto] (OpenMetrics first)",
         "application/openmetrics-text;version=1.0.0;q=0.3,application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=delimited;q=0.2,*/*;q=0.1",
         "application/openmetrics-text; version=1.0.0; charset=utf-8"),
        ("text 0.0.4 preferred", "text/plain;version=0.0.4;q=0.9,application/openmetrics-text;version=1.0.0;q=0.5", "text/plain; version=0.0.4; charset=utf-8"),
        ("an unknown escaping", "text/plain;version=1.0.0;escaping=bogus", "text/plain; version=1.0.0; charset=utf-8; escaping=underscores"),
        ("OpenMetrics 0.0.1 only", "application/openmetrics-text;version=0.0.1", "application/openmetrics-text; version=0.0.1; charset=utf-8"),
        ("protobuf only", "application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=delimited", "application/vnd.google.protobuf; proto=io.prometheus.client.MetricFamily; encoding=delimited"),
        ("protobuf text encoding is not served", "application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=text", "text/plain; version=0.0.4; charset=utf-8"),
        ("protobuf of another message is not served", "application/vnd.google.protobuf;proto=other.Message;encoding=delimited", "text/plain; version=0.0.4; charset=utf-8"),
    ]

    @Test(arguments: prometheusHeaders)
    func contentTypeForPrometheusAccept(_ who: String, _ accept: String, _ contentType: String) {
        #expect(ContentNegotiation.negotiate(accept: accept).contentType == contentType, "\(who)")
    }

    @Test func noAcceptHeaderMeansText() {
        #expect(ContentNegotiation.format(accept: nil) == .prometheusText)
    }

    @Test(arguments: [
        ("gzip", true), ("gzip, deflate, br", true), ("GZIP;q=0.5", true), ("x-gzip", true), ("*", true),
        ("gzip;q=0", false), ("gzip;q=0.0, *;q=1", false), ("*;q=0", false), ("identity", false), ("deflate, br", false), ("", false),
        ("br;q=1.0, gzip;q=0.8, *;q=0.1", true),
    ])
    func acceptEncoding(_ header: String, _ expected: Bool) {
        #expect(ContentNegotiation.acceptsGzip(acceptEncoding: header) == expected)
    }

    @Test func missingAcceptEncodingMeansIdentity() {
        #expect(!ContentNegotiation.acceptsGzip(acceptEncoding: nil))
    }
}

@Suite("gzip", .offCooperativePool)
struct GzipTests {
    @Test(arguments: [0, 1, 100, 70_000, 1_000_000])
    func roundTrip(_ size: Int) throws {
        var state: UInt64 = 42
        let input = (0..<size).map { _ -> UInt8 in
            state = state &* 6364136223846793005 &+ 1442695040888963407
            return UInt8(truncatingIfNeeded: state >> 60) + 65  // compressible but not trivial
        }
        let compressed = Gzip.compress(input)
        #expect(compressed.prefix(2) == [0x1F, 0x8B])
        #expect(try #require(Gzip.decompress(compressed)) == input)
    }

    @Test func garbageIsNotGzip() {
        #expect(Gzip.decompress([1, 2, 3, 4]) == nil)
    }
}
