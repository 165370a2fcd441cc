import Testing
@testable import MemoryMonitor
import TestSupport

@Suite("Exposition", .offCooperativePool)
struct ExpositionTests {
    func registry() -> MetricRegistry {
        let r = MetricRegistry()
        let g = r.gauge("demo_size_bytes", help: "Size with \"quotes\", a \\ and\na newline.", unit: "bytes", labels: ["path"])
        g.set(1024, "a\"b\\c\nd")
        g.set(.nan, "nan")
        g.set(.infinity, "inf")
        g.set(-.infinity, "minus")
        g.set(0.25, "quarter")
        let c = r.counter("demo_events", help: "Events.", labels: ["kind"])
        c.increment("x")
        c.increment(by: 2, "x")
        let h = r.histogram("demo_latency_seconds", help: "Latency.", unit: "seconds", buckets: [0.001, 1, 2])
        h.observe(0.0005)
        h.observe(0.5)
        h.observe(5)
        return r
    }

    func text(_ format: ExpositionFormat) -> String {
        String(decoding: ExpositionRenderer.render(registry().snapshot(), format: format), as: UTF8.self)
    }

    @Test func prometheusText() {
        #expect(text(.prometheusText) == """
            # HELP demo_size_bytes Size with "quotes", a \\\\ and\\na newline.
            # TYPE demo_size_bytes gauge
            demo_size_bytes{path="a\\"b\\\\c\\nd"} 1024
            demo_size_bytes{path="nan"} NaN
            demo_size_bytes{path="inf"} +Inf
            demo_size_bytes{path="minus"} -Inf
            demo_size_bytes{path="quarter"} 0.25
            # HELP demo_events_total Events.
            # TYPE demo_events_total counter
            demo_events_total{kind="x"} 3
            # HELP demo_latency_seconds Latency.
            # TYPE demo_latency_seconds histogram
            demo_latency_seconds_bucket{le="0.001"} 1
            demo_latency_seconds_bucket{le="1.0"} 2
            demo_latency_seconds_bucket{le="2.0"} 2
            demo_latency_seconds_bucket{le="+Inf"} 3
            demo_latency_seconds_sum 5.5005
            demo_latency_seconds_count 3

            """)
    }

    @Test func openMetrics() {
        let body = text(.openMetrics)
        #expect(body.hasPrefix("# HELP demo_size_bytes Size with \\\"quotes\\\", a \\\\ and\\na newline.\n# TYPE demo_size_bytes gauge\n# UNIT demo_size_bytes bytes\n"))
        #expect(body.contains("# TYPE demo_events counter\ndemo_events_total{kind=\"x\"} 3\ndemo_events_created{kind=\"x\"} "))
        #expect(body.contains("# TYPE demo_latency_seconds histogram\n# UNIT demo_latency_seconds seconds\n"))
        #expect(body.contains("demo_latency_seconds_count 3\ndemo_latency_seconds_created "))
        #expect(body.hasSuffix("\n# EOF\n"))
        // _created is when the series started counting: now, give or take the test's run time.
        let created = body.split(separator: "\n").first { $0.hasPrefix("demo_events_created") }.flatMap { Double($0.split(separator: " ").last ?? "") }
        #expect(created.map { abs($0 - WallClock.now()) < 60 } == true)
        // Text 0.0.4 has no _created lines.
        #expect(!text(.prometheusText).contains("_created"))
    }

    /// A counter that mirrors a kernel counter (set, not incremented) has no _created: its start is not known.
    @Test func mirroredCountersHaveNoCreated() {
        let r = MetricRegistry()
        r.counter("kernel_things", help: "Mirrored.").set(5)
        let body = String(decoding: ExpositionRenderer.render(r.snapshot(), format: .openMetrics), as: UTF8.self)
        #expect(body == "# HELP kernel_things Mirrored.\n# TYPE kernel_things counter\nkernel_things_total 5\n# EOF\n")
    }

    @Test func familiesWithoutSamplesAreLeftOut() {
        let r = MetricRegistry()
        _ = r.gauge("empty_thing", help: "Nothing yet.")
        #expect(String(decoding: ExpositionRenderer.render(r.snapshot(), format: .openMetrics), as: UTF8.self) == "# EOF\n")
        #expect(ExpositionRenderer.render(r.snapshot(), format: .prometheusText).isEmpty)
    }

    /// A handle is the same series as its label values: not shown until set, gone when removed,
    /// back in its first place when set again; a family without labels has its one series.
    @Test func gaugeHandlesAreTheSeriesOfTheirLabels() {
        let r = MetricRegistry()
        let g = r.gauge("handled_bytes", help: "Handled.", labels: ["kind"])
        let a = g.handle("a")
        let b = g.handle(labels: ["b"])
        func body() -> String { String(decoding: ExpositionRenderer.render(r.snapshot(), format: .prometheusText), as: UTF8.self) }
        #expect(body().isEmpty)
        b.set(2)
        g.set(3, "c")
        a.set(1)
        #expect(body().hasSuffix("handled_bytes{kind=\"a\"} 1\nhandled_bytes{kind=\"b\"} 2\nhandled_bytes{kind=\"c\"} 3\n"))
        a.remove()
        #expect(g.value("a") == nil)
        #expect(!body().contains("kind=\"a\""))
        g.set(4, "a")
        #expect(g.value("a") == 4)
        a.set(orRemove: nil)
        #expect(g.value("a") == nil)
        a.set(orRemove: 5)
        #expect(g.value("a") == 5)
        g.remove("b")
        // No label values on a labelled family names no series: nothing is removed.
        g.remove()
        #expect(g.value() == nil)
        #expect(body().hasSuffix("handled_bytes{kind=\"a\"} 5\nhandled_bytes{kind=\"c\"} 3\n"))
        let plain = r.gauge("plain_bytes", help: "No labels.")
        #expect(plain.value() == nil)
        plain.set(7)
        plain.handle().set(8)
        #expect(plain.value() == 8)
        plain.remove()
        #expect(plain.value() == nil)
        #expect(!body().contains("plain_bytes 8"))
    }

    @Test func histogramQuantileInterpolates() {
        let r = MetricRegistry()
        let h = r.histogram("q_seconds", help: "q", buckets: [1, 2, 4])
        for v in [0.5, 1.5, 1.5, 3] { h.observe(v) }
        #expect(h.count() == 4)
        #expect(h.quantile(0.5) == 1.5)
        #expect(h.quantile(1) == 4)
    }

    @Test func documentedFamiliesArePresentFromTheStart() {
        let monitor = MemoryMonitor(configuration: MonitorConfiguration())
        let body = String(decoding: ExpositionRenderer.render(monitor.metricFamilies(for: monitor.check()), format: .prometheusText), as: UTF8.self)
        for severity in ["warning", "critical", "emergency"] {
            #expect(body.contains("memory_alerts_sent_total{severity=\"\(severity)\"} 0"))
        }
        #expect(body.contains("memory_cleanup_operations_total 0"))
        #expect(body.contains("memory_leaks_detected_total 0"))
        #expect(body.contains("memory_threshold_bytes{component=\"process_memory\",severity=\"critical\"} 2147483648"))
        #expect(body.contains("memory_threshold_ratio{component=\"system_memory\",severity=\"warning\"} 0.7"))
        #expect(body.contains("memory_monitor_build_info{version=\"\(MonitorMetrics.version)\",revision=\"\(MonitorMetrics.revision)\",swift_version=\"6.3\",os=\"linux\",arch=\"\(MonitorMetrics.platform.arch)\"} 1"))
        // Stamped at build time from git (this checkout has one), never a placeholder here.
        #expect(MonitorMetrics.revision.range(of: "^[0-9a-f]{40}(-dirty)?$", options: .regularExpression) != nil, "\(MonitorMetrics.revision)")
    }
}
