import MemoryMonitor
import Testing
@testable import MemoryMonitorHTTP

@Suite("Health report")
struct HealthReportTests {
    @Test func overallAndMemoryComeFromTheSnapshot() throws {
        var config = MonitorConfiguration()
        config.monitoring.checkInterval = 60
        let monitor = MemoryMonitor(configuration: config)
        #expect(HealthReport.memory(monitor.snapshot).status == 503)
        monitor.check()
        let (status, body) = HealthReport.overall(monitor)
        #expect(status == 200)
        guard case .object(let o) = body else { Issue.record("not an object"); return }
        #expect(o["monitoring_active"] == .bool(true))
        #expect(o["status"] == "healthy")
        let (memoryStatus, memory) = HealthReport.memory(monitor.snapshot)
        #expect(memoryStatus == 200)
        guard case .object(let m) = memory else { Issue.record("not an object"); return }
        for key in ["timestamp", "rss_mb", "vms_mb", "percent", "available_mb", "swap_percent", "gc_collections", "monitor_heap_bytes"] {
            #expect(m[key] != nil && m[key] != .null, "missing \(key)")
        }
        // The monitor watching itself has no Python collector: gc_objects is unknown, and says why.
        #expect(m["gc_objects"] == .null && m["gc_source"] == "monitor")
        guard case .object(let runtime)? = m["runtime"], case .string(let reason)? = runtime["reason"] else {
            Issue.record("no runtime reason: \(m["runtime"] ?? .null)")
            return
        }
        #expect(reason.contains("no agent"), "\(reason)")
        #expect(m["unavailable"] == .object([:]))
        #expect(m["target_state"] == "up")
    }

    @Test func stalledLoopAnswers503() async throws {
        var config = MonitorConfiguration()
        config.monitoring.checkInterval = 0.01
        let monitor = MemoryMonitor(configuration: config)
        monitor.check()
        try await Task.sleep(for: .milliseconds(60))
        #expect(monitor.isStalled)
        let (status, body) = HealthReport.overall(monitor)
        #expect(status == 503)
        guard case .object(let o) = body else { Issue.record("not an object"); return }
        #expect(o["monitoring_active"] == .bool(false))
    }
}
