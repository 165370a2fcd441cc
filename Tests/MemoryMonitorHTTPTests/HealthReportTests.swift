import MemoryMonitor
import NIOHTTP1
import Testing
@testable import MemoryMonitorHTTP
import TestSupport

@Suite("Health report", .offCooperativePool)
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

    /// Health reports are built off the event loop: `/health` and the record lists on the task
    /// pool each time; `/health/memory` once per check, then served from the kept reply until
    /// the next check. Errors (a wrong method) are answered at once.
    @Test func healthReportsAreBuiltOffTheEventLoop() async throws {
        var config = MonitorConfiguration()
        config.monitoring.checkInterval = 60
        let monitor = MemoryMonitor(configuration: config)
        monitor.check()
        let router = Router(monitor: monitor, cache: ExpositionCache(monitor: monitor, maxAge: .seconds(60)), routes: [.health, .metrics])
        func answer(_ reply: Reply) async -> (later: Bool, response: Response) {
            switch reply {
            case .now(let response): (false, response)
            case .later(let work): (true, await work())
            }
        }
        for path in ["/health", "/health/actions", "/health/leaks", "/health/alerts?hours=1"] {
            let (later, response) = await answer(router.reply(method: .GET, uri: path, headers: [:]))
            #expect(later, "\(path) was built on the event loop")
            #expect(response.status == .ok, "\(path)")
            #expect(await answer(router.reply(method: .GET, uri: path, headers: [:])).later, "\(path) is built each time")
        }
        let first = await answer(router.reply(method: .GET, uri: "/health/memory", headers: [:]))
        #expect(first.later && first.response.status == .ok)
        let again = await answer(router.reply(method: .GET, uri: "/health/memory", headers: [:]))
        #expect(!again.later, "the same check's report is kept")
        #expect(again.response.body == first.response.body)
        monitor.check()
        let next = await answer(router.reply(method: .GET, uri: "/health/memory", headers: [:]))
        #expect(next.later, "a new check's report is built again")
        #expect(next.response.body != first.response.body)
        let wrong = await answer(router.reply(method: .DELETE, uri: "/health/memory", headers: [:]))
        #expect(!wrong.later && wrong.response.status == .methodNotAllowed)
        let wrongHealth = await answer(router.reply(method: .POST, uri: "/health", headers: [:]))
        #expect(!wrongHealth.later && wrongHealth.response.status == .methodNotAllowed)
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
