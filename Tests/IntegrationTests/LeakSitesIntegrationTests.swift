import Foundation
import TestSupport
import Testing

/// Issue 27 against the built exporter and real Python services: a leak episode that starts
/// makes the target's runtime agent profile allocations, and the leak alert is updated with the
/// line that leaks.
@Suite("Leak allocation sites end to end", .serialized, .offCooperativePool)
struct LeakSitesIntegrationTests {
    static func config(profileSeconds: Double = 3, traceFromStart: Bool = false) -> String {
        """
        {"monitoring": {"check_interval": 0.5, "enable_tracemalloc": \(traceFromStart),
                        "leak_detection": {"monitoring_window": 10, "threshold_growth_rate": 0.05, "profile_seconds": \(profileSeconds)}},
         "experimental": {"predictive_alerting": false},
         "thresholds": {"memory_warning_mb": 4000, "memory_critical_mb": 5000, "memory_emergency_mb": 6000},
         "alerting": {"instance": "test-host"},
         "auto_response": {"enabled": false}}
        """
    }

    func leaks(_ exporter: Exporter) -> [String: Any] { (try? exporter.health("/health/leaks")) ?? [:] }

    func firstEpisode(_ exporter: Exporter) -> [String: Any] { (leaks(exporter)["episodes"] as? [[String: Any]])?.first ?? [:] }

    /// A service with a steady leak at a known line, a churning site and a large static one: the
    /// leak alert's update names the leaking line first with at least 70 % of the growth, and
    /// neither other site is in the top 3 with growth. Threads with the leak one call deep, then
    /// asyncio with it two calls deep (the traceback shows the caller); then with
    /// `enable_tracemalloc` true, where the agent traces from the start and keeps tracing.
    @Test(arguments: [("threads", false, false), ("asyncio", true, false), ("threads", false, true)])
    func theLeakAlertNamesTheLeakingLine(mode: String, deep: Bool, traceFromStart: Bool) throws {
        var env = ProcessInfo.processInfo.environment
        env["MODE"] = mode
        env["DEEP"] = deep ? "1" : nil
        let service = try ChildProcess(TestEnvironment.python, [TestEnvironment.packageRoot + "/Tests/Peers/leak_sites_service.py"], environment: env)
        defer { service.stop() }
        #expect(service.wait(seconds: 20) { service.stdout.contains("leak_line") })
        let ready = (try? JSONSerialization.jsonObject(with: Data(service.stdout.split(separator: "\n").first.map(String.init)?.utf8 ?? "".utf8))) as? [String: Any] ?? [:]
        let line = ready["leak_line"] as? Int ?? -1
        let exporter = try Exporter(["--pid", "\(service.pid)"], config: Self.config(traceFromStart: traceFromStart))
        defer { exporter.stop() }
        func tracing() -> Bool? {
            (((try? exporter.health("/health/memory"))?["runtime"] as? [String: Any])?["tracemalloc"] as? [String: Any])?["tracing"] as? Bool
        }
        if traceFromStart {
            #expect(waitFor(10) { tracing() == true }, "the agent was not asked to trace from the start")
        }
        #expect(
            waitFor(60) { (firstEpisode(exporter)["profile"] as? [String: Any]) != nil || (firstEpisode(exporter)["reason"] as? String).map { $0 != "profiling" } == true },
            "\(leaks(exporter)) \(exporter.child.stderr.suffix(2000))")
        let episode = firstEpisode(exporter)
        #expect(episode["profile"] is [String: Any], "no profile: \(episode) \(exporter.child.stderr.suffix(3000))")
        let profile = episode["profile"] as? [String: Any] ?? [:]
        let sites = profile["sites"] as? [[String: Any]] ?? []
        let top = sites.first ?? [:]
        #expect(top["site"] as? String == "leak_sites_service.py:\(line)", "\(sites.prefix(4))")
        #expect(top["function"] as? String == "remember")
        #expect((top["share_of_growth"] as? Double ?? 0) >= 0.7, "\(sites.prefix(4))")
        if deep {
            #expect((top["traceback"] as? [String] ?? []).contains { $0.contains("in handle_request") }, "\(top["traceback"] ?? [])")
        }
        let source = (try? String(contentsOfFile: TestEnvironment.packageRoot + "/Tests/Peers/leak_sites_service.py", encoding: .utf8)) ?? ""
        let staticLine = (source.split(separator: "\n", omittingEmptySubsequences: false).firstIndex { $0.hasPrefix("STATIC = [") } ?? -2) + 1
        for site in sites.prefix(3) where (site["size_diff_bytes"] as? Double ?? 0) > 0 {
            #expect(site["function"] as? String != "churn", "\(site)")
            #expect(site["site"] as? String != "leak_sites_service.py:\(staticLine)", "the static site grew: \(site)")
        }
        #expect((profile["tracemalloc_bytes"] as? Double ?? 0) > 0 && profile["started_tracing"] as? Bool == !traceFromStart)
        if traceFromStart {
            // Traced since the monitor found the agent: the site holds more than it grew in the profile.
            #expect((top["size_bytes"] as? Double ?? 0) > (top["size_diff_bytes"] as? Double ?? 0), "\(top)")
        }

        // The leak alert was updated (same id) with the top sites, in its payload and message.
        func leakAlerts() -> [[String: Any]] {
            let alerts = (try? exporter.health("/health/alerts?hours=1"))?["alerts"] as? [[String: Any]] ?? []
            return alerts.filter { $0["component"] as? String == "memory_leak" && $0["id"] as? String == episode["alert_id"] as? String }
        }
        func isUpdate(_ alert: [String: Any]) -> Bool { ((alert["metadata"] as? [String: Any])?["leak_sites"]) != nil }
        #expect(waitFor(10) { leakAlerts().contains(where: isUpdate) }, "\(leakAlerts())")
        let update = leakAlerts().first(where: isUpdate)
        #expect(leakAlerts().count >= 2, "the first notice and its update: \(leakAlerts())")
        #expect((update?["message"] as? String)?.contains("leak_sites_service.py:\(line) in remember()") == true, "\(update ?? [:])")
        #expect((update?["delivery_key"] as? String)?.hasSuffix("/firing/1") == true)
        let series = #"memory_leak_site_growth_bytes{rank="1",site="leak_sites_service.py:\#(line)"}"#
        #expect(waitFor(10) { ((try? exporter.metrics().bodyText) ?? "").contains(series) })
        // Tracing this profile started is off again; tracing from the start stays on.
        #expect(waitFor(10) { tracing() == traceFromStart })
    }

    /// POST /health/actions/profile?seconds=N with the same authorisation as POST gc; and a
    /// target without an agent: the leak alert is unchanged and /health/leaks says why.
    @Test func theManualProfileAndATargetWithoutAnAgent() throws {
        let service = try ChildProcess(TestEnvironment.python, [TestEnvironment.packageRoot + "/Tests/Peers/leak_sites_service.py"])
        defer { service.stop() }
        #expect(service.wait(seconds: 20) { service.stdout.contains("leak_line") })
        let exporter = try Exporter(["--pid", "\(service.pid)"], config: Self.config(profileSeconds: 600))
        defer { exporter.stop() }
        #expect(waitFor(10) { ((try? exporter.health("/health/memory"))?["runtime"] as? [String: Any])?["agents_up"] as? Int == 1 })
        #expect(try RawHTTP.request(port: exporter.healthPort, method: "POST", path: "/health/actions/profile?seconds=0").status == 400)
        let response = try RawHTTP.request(port: exporter.healthPort, method: "POST", path: "/health/actions/profile?seconds=2")
        #expect(response.status == 200)
        let body = (try? JSONSerialization.jsonObject(with: Data(response.body))) as? [String: Any] ?? [:]
        let sites = body["sites"] as? [[String: Any]] ?? []
        #expect(sites.first?["function"] as? String == "remember", "\(sites.prefix(3))")
        #expect(body["trigger"] as? String == "manual")

        // No agent: a leaking Python process without it.
        let plain = try ChildProcess(
            TestEnvironment.python, ["-c", "import time\nx=[]\nprint('up', flush=True)\nwhile True:\n    x.append(bytearray(2000000)); time.sleep(0.1)"])
        defer { plain.stop() }
        #expect(plain.wait(seconds: 10) { plain.stdout.contains("up") })
        let watcher = try Exporter(["--pid", "\(plain.pid)"], config: Self.config())
        defer { watcher.stop() }
        #expect(waitFor(60) { firstEpisode(watcher)["reason"] is String }, "\(leaks(watcher))")
        #expect((firstEpisode(watcher)["reason"] as? String)?.contains("no runtime agent") == true, "\(firstEpisode(watcher))")
        let alerts = (try? watcher.health("/health/alerts?hours=1"))?["alerts"] as? [[String: Any]] ?? []
        #expect(!alerts.contains { (($0["metadata"] as? [String: Any])?["leak_sites"]) != nil })
        #expect(try RawHTTP.request(port: watcher.healthPort, method: "POST", path: "/health/actions/profile?seconds=1").status == 409)
    }
}
