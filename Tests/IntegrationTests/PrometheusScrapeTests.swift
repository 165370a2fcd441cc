import Foundation
import TestSupport
import Testing

/// A real Prometheus scrapes the built exporter, negotiates OpenMetrics, stores the documented
/// series, and answers the SPEC's queries.
@Suite("Real Prometheus scrape", .serialized, .offCooperativePool)
struct PrometheusScrapeTests {
    @Test func prometheusScrapesStoresAndQueriesTheDocumentedSeries() throws {
        let exporter = try Exporter(["--check-interval", "0.5", "--log-level", "debug"])
        let prometheus = try PrometheusServer(config: """
            global:
              scrape_interval: 1s
              evaluation_interval: 1s
            scrape_configs:
              - job_name: 'flight-crawler-memory'
                static_configs:
                  - targets: ['127.0.0.1:\(exporter.metricsPort)']
            """)
        defer {
            prometheus.stop()
            exporter.stop()
        }
        #expect(prometheus.waitForData(#"up{job="flight-crawler-memory"} == 1"#))
        // Wait for a few scrapes so rate() and increase() have two points.
        #expect(prometheus.waitForData(#"count_over_time(memory_checks_total[1m]) >= 4"#))

        for series in [
            #"memory_usage_bytes{component="rss_mb"}"#, #"memory_usage_bytes{component="vms_mb"}"#,
            #"memory_usage_bytes{component="percent"}"#, #"memory_usage_bytes{component="available_mb"}"#,
            #"memory_usage_bytes{component="swap_percent"}"#, #"memory_alerts_sent_total{severity="warning"}"#,
            #"memory_alerts_sent_total{severity="critical"}"#, #"memory_alerts_sent_total{severity="emergency"}"#,
            #"memory_check_duration_seconds_bucket{le="+Inf"}"#, "memory_check_duration_seconds_count",
            "memory_cleanup_operations_total", "memory_leaks_detected_total", "process_resident_memory_bytes",
            "process_cpu_seconds_total", "memory_threshold_bytes", "memory_effective_limit_bytes",
            // SPEC §5's queries, as users type them.
            #"avg_over_time(memory_usage_bytes{component="rss_mb"}[5m])"#, "increase(memory_alerts_sent_total[1h])",
            "histogram_quantile(0.95, rate(memory_check_duration_seconds_bucket[5m]))",
        ] {
            let (count, body) = try prometheus.query(series)
            #expect(count > 0, "no data for \(series): \(body)")
        }

        // The exporter logged which format each scrape negotiated.
        #expect(exporter.child.stderr.contains("scrape content_type=application/openmetrics-text; version=1.0.0; charset=utf-8 gzip=true"))
        let targets = try prometheus.api("/api/v1/targets")
        let active = ((targets["data"] as? [String: Any])?["activeTargets"] as? [[String: Any]]) ?? []
        #expect(active.first?["health"] as? String == "up")
        #expect(active.first?["lastError"] as? String == "")
    }
}
