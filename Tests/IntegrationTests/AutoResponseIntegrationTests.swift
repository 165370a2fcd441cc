import Foundation
import TestSupport
import Testing

extension Dictionary where Key == String, Value == Any {
    func text(_ key: String) -> String? { self[key] as? String }
    func number(_ key: String) -> Double? { self[key] as? Double }
}

/// The automatic response against real processes: Tests/Peers/handwritten_service.py (it leaks on
/// purpose and frees its cache on SIGUSR1 or POST /admin/memory) watched by the built exporter.
@Suite("Automatic response end to end", .serialized, .offCooperativePool)
struct AutoResponseIntegrationTests {
    /// The example service, leaking `rate` MiB/s up to `limit` MiB, recording clean-ups in a file.
    final class Service: @unchecked Sendable {
        let events = NSTemporaryDirectory() + "mm-app-events-\(UUID().uuidString).jsonl"
        let child: ChildProcess
        let port = TestEnvironment.freePort()

        init(rate: Int, limit: Int) throws {
            child = try ChildProcess(
                TestEnvironment.python, [TestEnvironment.packageRoot + "/Tests/Peers/handwritten_service.py"],
                environment: ["PORT": "\(port)", "LEAK_MB_PER_SECOND": "\(rate)", "LEAK_LIMIT_MB": "\(limit)", "EVENTS_FILE": events])
            guard child.wait(seconds: 20, for: { child.stdout.contains("listening") }) else {
                throw RawHTTPError(description: "the example service did not start: \(child.stderr)")
            }
        }

        var cleanUps: [[String: Any]] {
            let text = (try? String(contentsOfFile: events, encoding: .utf8)) ?? ""
            return text.split(separator: "\n").compactMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }
        }

        var residentMB: Double {
            let status = (try? String(contentsOfFile: "/proc/\(child.pid)/status", encoding: .utf8)) ?? ""
            let line = status.split(separator: "\n").first { $0.hasPrefix("VmRSS:") }
            return Double(line?.split(separator: " ").dropFirst().first ?? "0").map { $0 / 1024 } ?? 0
        }

        deinit { child.stop() }
    }

    static func config(_ actions: String, cooldown: Double = 30, extra: String = "", warningMB: Int = 35, criticalMB: Int = 55) -> String {
        """
        {"monitoring": {"check_interval": 0.2, "leak_detection": {"enabled": false}},
         "experimental": {"predictive_alerting": false},
         "thresholds": {"memory_warning_mb": \(warningMB), "memory_critical_mb": \(criticalMB), "memory_emergency_mb": 4000},
         "alerting": {"instance": "test-host"},
         "auto_response": {"cooldown_seconds": \(cooldown), "settle_seconds": 0.5, "action_timeout_seconds": 2, \(actions)}\(extra)}
        """
    }

    func actions(_ exporter: Exporter) -> [[String: Any]] {
        ((try? exporter.health("/health/actions?hours=1"))?["actions"] as? [[String: Any]]) ?? []
    }

    func metric(_ exporter: Exporter, _ prefix: String) -> Double? {
        let text = (try? exporter.metrics().bodyText) ?? ""
        return text.split(separator: "\n").first { $0.hasPrefix(prefix + " ") }.flatMap { Double($0.split(separator: " ").last ?? "") }
    }

    /// Critical sends SIGUSR1; the handler frees the cache. The signal arrives once, the bytes it
    /// freed show in metrics, /health/actions and the alert; when the service leaks back past
    /// critical within the cooldown, no second signal is sent.
    @Test func aSignalReclaimsMemoryAndTheCooldownHoldsTheNext() throws {
        let service = try Service(rate: 20, limit: 70)
        let exporter = try Exporter(
            ["--pid", "\(service.child.pid)"],
            config: Self.config(#""warning_actions": {"force_gc": false}, "critical_actions": {"signal": "SIGUSR1"}"#))
        defer { exporter.stop() }
        #expect(waitFor(30) { actions(exporter).contains { $0.text("action") == "signal" } }, "\(exporter.child.stderr)")
        #expect(service.cleanUps.count == 1)
        #expect(service.cleanUps.first?.text("source") == "SIGUSR1")
        let record = actions(exporter).first { $0.text("action") == "signal" }
        #expect(record?.text("result") == "ok")
        #expect(record?.text("level") == "critical")
        let reclaimed = record?.number("reclaimed_bytes") ?? 0
        #expect(reclaimed > 20 * 1_048_576, "\(record ?? [:])")
        #expect(metric(exporter, #"memory_reclaimed_bytes_total{action="signal"}"#) == reclaimed)
        #expect(metric(exporter, #"memory_auto_response_actions_total{level="critical",action="signal",result="ok"}"#) == 1)
        // The critical alert says what ran and what it freed.
        #expect(waitFor(10) {
            let alerts = ((try? exporter.health("/health/alerts?hours=1"))?["alerts"] as? [[String: Any]]) ?? []
            return alerts.contains { alert in
                guard alert.text("severity") == "critical", alert.text("status") == "firing",
                    let meta = (alert["metadata"] as? [String: Any])?["auto_response"] as? [String: Any],
                    let ran = (meta["actions"] as? [[String: Any]])?.first
                else { return false }
                return ran.text("action") == "signal" && ran.text("result") == "ok" && meta.number("reclaimed_bytes") == reclaimed
            }
        }, "\((try? exporter.health("/health/alerts?hours=1")) ?? [:])")
        // It leaks back past critical; the cooldown (30 s) holds a second signal.
        #expect(waitFor(20) { service.residentMB > 60 })
        Thread.sleep(forTimeInterval: 1.5)
        #expect(service.cleanUps.count == 1)
        #expect(metric(exporter, #"memory_auto_response_actions_total{level="critical",action="signal",result="ok"}"#) == 1)
        #expect(exporter.child.stderr.contains("auto-response action"))
    }

    /// An http_hook reaches the service's /admin/memory with the alert JSON; a command receives
    /// the alert in its environment; a command that hangs is killed at its timeout.
    @Test func aHookAndACommandReachTheirTargets() throws {
        let service = try Service(rate: 20, limit: 70)
        let directory = NSTemporaryDirectory() + "mm-cmd-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let dump = "import os, json, sys; json.dump(dict(os.environ), open(sys.argv[1], 'w'))"
        let hang = "import os, sys, time; open(sys.argv[1], 'w').write(str(os.getpid())); time.sleep(60)"
        let actions = """
            "warning_actions": {"force_gc": false, "command": ["\(TestEnvironment.python)", "-c", "\(dump)", "\(directory)/env.json"]},
            "critical_actions": {"http_hook": "http://127.0.0.1:\(service.port)/admin/memory",
                                 "command": ["\(TestEnvironment.python)", "-c", "\(hang)", "\(directory)/hung.pid"]}
            """
        let exporter = try Exporter(["--pid", "\(service.child.pid)"], config: Self.config(actions), environment: ["MEMORY_ACTION_TOKEN": "not-for-commands"])
        defer { exporter.stop() }
        #expect(waitFor(30) { self.actions(exporter).contains { $0.text("action") == "command" && $0.text("level") == "critical" } })
        let env = (try? JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: directory + "/env.json")))) as? [String: String] ?? [:]
        #expect(env["MEMORY_ALERT_SEVERITY"] == "warning")
        #expect(env["MEMORY_ALERT_COMPONENT"] == "process_memory")
        #expect(env["MEMORY_TARGET_PID"] == "\(service.child.pid)")
        #expect(Double(env["MEMORY_USAGE_MB"] ?? "") ?? 0 >= 35)
        #expect(env["MEMORY_THRESHOLD_MB"] == "35")
        #expect(env["MEMORY_ACTION_TOKEN"] == nil, "the monitor's environment is not passed on")
        let hook = service.cleanUps.first { $0.text("source") == "http_hook" }
        #expect(hook?.text("severity") == "critical")
        #expect(hook?.text("trigger") == "auto")
        let records = self.actions(exporter)
        #expect(records.first { $0.text("action") == "http_hook" }?.text("result") == "ok")
        let hung = records.first { $0.text("action") == "command" && $0.text("level") == "critical" }
        #expect(hung?.text("result") == "failed")
        #expect((hung?.text("detail"))?.contains("ran past 2 s") == true, "\(hung ?? [:])")
        let pid = Int32((try? String(contentsOfFile: directory + "/hung.pid", encoding: .utf8)) ?? "") ?? 0
        #expect(pid > 0)
        #expect(waitFor(5) { kill(pid, 0) != 0 }, "the hung command was not killed")
        #expect(records.first { $0.text("action") == "command" && $0.text("level") == "warning" }?.text("result") == "ok")
    }

    /// dry_run logs and records, and runs nothing.
    @Test func aDryRunRunsNothing() throws {
        let service = try Service(rate: 20, limit: 70)
        let exporter = try Exporter(
            ["--pid", "\(service.child.pid)"],
            config: Self.config(#""dry_run": true, "critical_actions": {"signal": "SIGUSR1", "restart": {"signal": "SIGTERM"}}"#))
        defer { exporter.stop() }
        #expect(waitFor(30) { actions(exporter).contains { $0.text("action") == "restart" } })
        let records = actions(exporter).filter { $0.text("level") == "critical" }
        #expect(Set(records.compactMap { $0.text("result") }) == ["dry_run"], "\(records)")
        #expect((records.first { $0.text("action") == "restart" }?.text("detail"))?.hasPrefix("dry run: would send SIGTERM") == true)
        Thread.sleep(forTimeInterval: 1)
        #expect(service.cleanUps.isEmpty)
        #expect(kill(service.child.pid, 0) == 0, "the service is still running")
        #expect(metric(exporter, #"memory_auto_response_actions_total{level="critical",action="signal",result="dry_run"}"#) == 1)
        #expect(metric(exporter, "memory_cleanup_operations_total") == 0)
    }

    /// Three restarts within the window are sent; the fourth is refused, logged and alerted.
    @Test func theRestartGuardRefusesTheFourth() throws {
        let events = NSTemporaryDirectory() + "mm-stubborn-\(UUID().uuidString)"
        let target = try ChildProcess(TestEnvironment.python, [Peers.script("stubborn.py"), "80", events])
        defer { target.stop() }
        #expect(target.wait(seconds: 20) { target.stdout.contains("ready") })
        let exporter = try Exporter(
            ["--pid", "\(target.pid)"],
            config: Self.config(
                #""warning_actions": {"force_gc": false}, "critical_actions": {"force_gc": false, "clear_caches": false, "restart": {"signal": "SIGTERM", "max_per_hour": 3, "window_seconds": 600}}"#,
                cooldown: 0.3))
        defer { exporter.stop() }
        // The refusal is recorded at once; a sent restart once its effect is measured (settle_seconds).
        #expect(waitFor(30) {
            let restarts = actions(exporter).filter { $0.text("action") == "restart" }
            return restarts.contains { $0.text("result") == "skipped" } && restarts.filter { $0.text("result") == "ok" }.count >= 3
        }, "\(exporter.child.stderr)")
        let restarts = actions(exporter).filter { $0.text("action") == "restart" }
        #expect(restarts.filter { $0.text("result") == "ok" }.count == 3)
        #expect((restarts.first { $0.text("result") == "skipped" }?.text("detail"))?.hasPrefix("restart loop refused: 3 restarts") == true)
        let received = ((try? String(contentsOfFile: events, encoding: .utf8)) ?? "").split(separator: "\n")
        #expect(received.count == 3)
        #expect(waitFor(10) {
            let alerts = ((try? exporter.health("/health/alerts?hours=1"))?["alerts"] as? [[String: Any]]) ?? []
            return alerts.contains { $0.text("component") == "auto_response" && ($0.text("message"))?.contains("restart loop refused") == true }
        })
        #expect(exporter.child.stderr.contains("auto-response action skipped"))
    }

    /// POST /health/actions/gc asks the target (warning_actions.signal) and reports what it freed;
    /// with a token set it needs the bearer token: 401 without, 403 wrong, 200 right.
    @Test func theManualCleanUpActsOnTheTargetWithTheToken() throws {
        let service = try Service(rate: 20, limit: 30)
        #expect(waitFor(10) { service.residentMB > 30 })
        let exporter = try Exporter(
            ["--pid", "\(service.child.pid)"],
            // No level is reached (the service stays far below 1 GB): the only clean-up is the manual one.
            config: Self.config(
                #""warning_actions": {"signal": "SIGUSR1"}"#, extra: #", "security": {"action_token": "t0ken"}"#, warningMB: 1000, criticalMB: 2000))
        defer { exporter.stop() }
        let path = "/health/actions/gc"
        #expect(try RawHTTP.request(port: exporter.healthPort, method: "POST", path: path).status == 401)
        #expect(try RawHTTP.request(port: exporter.healthPort, method: "POST", path: path, headers: [("Authorization", "Bearer nope")]).status == 403)
        #expect(service.cleanUps.isEmpty)
        let response = try RawHTTP.request(port: exporter.healthPort, method: "POST", path: path, headers: [("Authorization", "Bearer t0ken")])
        #expect(response.status == 200)
        let body = (try? JSONSerialization.jsonObject(with: Data(response.body))) as? [String: Any] ?? [:]
        #expect(body["success"] as? Bool == true)
        #expect(body.text("scope") == "target")
        #expect(body.text("units") == "bytes")
        let before = body.number("before_objects") ?? 0
        let after = body.number("after_objects") ?? 0
        #expect(before > after && body.number("collected_objects") == before - after, "\(body)")
        #expect(service.cleanUps.count == 1)
        #expect(!exporter.child.stderr.contains("t0ken"))
        #expect(metric(exporter, #"memory_auto_response_actions_total{level="manual",action="signal",result="ok"}"#) == 1)
    }
}
