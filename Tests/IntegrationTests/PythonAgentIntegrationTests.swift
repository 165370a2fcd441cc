import Foundation
import TestSupport
import Testing

/// The built exporter with real Python services that import the runtime agent
/// (clients/python/memory_monitor_agent.py): found with no configuration, read at each check, and
/// the brief's automatic response run inside the service.
@Suite("Python runtime agent end to end", .serialized, .offCooperativePool)
struct PythonAgentIntegrationTests {
    /// A Python process with the agent, started and stopped by its pid.
    final class Service: @unchecked Sendable {
        let child: ChildProcess
        let directory: String
        let events: String

        /// `script` is examples/python-service/app.py or Tests/Peers/agent_service.py.
        init(_ script: String, environment: [String: String] = [:], ready: String = "\"pid\"") throws {
            directory = NSTemporaryDirectory() + "mm-agent-\(UUID().uuidString)"
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o755])
            events = directory + "/events.jsonl"
            var env = ProcessInfo.processInfo.environment
            env["MEMORY_MONITOR_AGENT_DIR"] = directory
            env["EVENTS_FILE"] = events
            for (k, v) in environment { env[k] = v }
            child = try ChildProcess(TestEnvironment.python, [TestEnvironment.packageRoot + "/" + script], environment: env)
            guard child.wait(seconds: 20, for: { child.stdout.contains(ready) }) else {
                throw RawHTTPError(description: "\(script) did not start: \(child.stderr)")
            }
        }

        var socket: String { directory + "/memory-monitor-agent.\(child.pid).sock" }

        var residentMB: Double {
            let status = (try? String(contentsOfFile: "/proc/\(child.pid)/status", encoding: .utf8)) ?? ""
            let line = status.split(separator: "\n").first { $0.hasPrefix("VmRSS:") }
            return Double(line?.split(separator: " ").dropFirst().first ?? "0").map { $0 / 1024 } ?? 0
        }

        deinit {
            child.stop()
            try? FileManager.default.removeItem(atPath: directory)
        }
    }

    static func config(warning: Double, critical: Double, emergency: Double, autoResponse: String, agent: String = "{}") -> String {
        """
        {"monitoring": {"check_interval": 0.2, "leak_detection": {"enabled": false}, "agent": \(agent)},
         "experimental": {"predictive_alerting": false},
         "thresholds": {"memory_warning_mb": \(warning), "memory_critical_mb": \(critical), "memory_emergency_mb": \(emergency)},
         "alerting": {"instance": "test-host"},
         "auto_response": \(autoResponse)}
        """
    }

    /// The brief's `auto_response` block (SPEC §3), unchanged, with a shorter settle time for the test.
    static let briefBlock = """
        {"enabled": true, "settle_seconds": 0.5,
         "critical_actions": {"force_gc": true, "clear_caches": true, "throttle_operations": true},
         "emergency_actions": {"force_gc": true, "multiple_gc_cycles": 3, "clear_all_caches": true,
                               "emergency_throttle": true, "send_immediate_alert": true}}
        """

    func actions(_ exporter: Exporter) -> [[String: Any]] {
        ((try? exporter.health("/health/actions?hours=1"))?["actions"] as? [[String: Any]]) ?? []
    }

    func runtime(_ exporter: Exporter) -> [String: Any] {
        ((try? exporter.health("/health/memory"))?["runtime"] as? [String: Any]) ?? [:]
    }

    func metric(_ exporter: Exporter, _ prefix: String) -> Double? {
        let text = (try? exporter.metrics().bodyText) ?? ""
        return text.split(separator: "\n").first { $0.hasPrefix(prefix + " ") }.flatMap { Double($0.split(separator: " ").last ?? "") }
    }

    /// One level of the brief's block against examples/python-service/app.py (leaking into a
    /// cache, with reference-cycle garbage only the collector frees): every configured action runs
    /// inside the service and the clean-up reclaims measured objects and bytes.
    func level(_ name: String, thresholds: (Double, Double, Double), expect expected: [String]) throws -> [[String: Any]] {
        let service = try Service(
            "examples/python-service/app.py", environment: ["PORT": "0", "LEAK_MB_PER_SECOND": "10", "LEAK_LIMIT_MB": "40", "CYCLE_GARBAGE": "1000"],
            ready: "listening")
        // The cache fills in 4 s; garbage in cycles keeps piling up (2 MiB/s) for the collector.
        Thread.sleep(forTimeInterval: 5)
        #expect(service.residentMB > 60, "RSS \(service.residentMB)")
        let exporter = try Exporter(
            ["--pid", "\(service.child.pid)"],
            config: Self.config(warning: thresholds.0, critical: thresholds.1, emergency: thresholds.2, autoResponse: Self.briefBlock))
        defer { exporter.stop() }
        #expect(
            waitFor(40) { Set(actions(exporter).compactMap { $0.text("action") }).isSuperset(of: expected) },
            "\(name): \(actions(exporter)) \(exporter.child.stderr.suffix(3000))")
        let records = actions(exporter)
        for record in records { #expect(record.text("level") == name && record.text("result") == "ok", "\(record)") }
        return records
    }

    @Test func theBriefsBlockRunsEachLevelsActionsInsideTheService() throws {
        // Warning: force_gc (SPEC §8's default) collects the reference cycles.
        let warning = try level("warning", thresholds: (20, 4000, 8000), expect: ["force_gc"])
        let gc = warning.first { $0.text("action") == "force_gc" } ?? [:]
        #expect((gc.number("collected_objects") ?? 0) > 1000, "\(gc)")
        #expect((gc.number("reclaimed_bytes") ?? 0) > 1_048_576, "\(gc)")

        // Critical: collection, the normal-priority cache clearer (the leaking cache), the gate.
        let critical = try level("critical", thresholds: (10, 20, 8000), expect: ["force_gc", "clear_caches", "throttle_operations"])
        let clear = critical.first { $0.text("action") == "clear_caches" } ?? [:]
        #expect((clear.number("reclaimed_bytes") ?? 0) > 20 * 1_048_576, "\(clear)")
        #expect(clear.text("detail")?.contains("clear_cache ok") == true, "\(clear)")
        #expect(critical.first { $0.text("action") == "throttle_operations" }?.text("detail")?.contains("limit 16") == true)

        // Emergency: three collections, every clearer, the emergency gate, stop_non_essential and prepare_restart.
        let emergency = try level(
            "emergency", thresholds: (5, 10, 20),
            expect: ["force_gc", "clear_all_caches", "emergency_throttle", "stop_non_essential", "prepare_restart"])
        let cycles = emergency.first { $0.text("action") == "force_gc" }?.text("detail") ?? ""
        #expect(cycles.contains("gc.collect() ran 3 time(s)"), "\(cycles)")
        let all = emergency.first { $0.text("action") == "clear_all_caches" } ?? [:]
        #expect(all.text("detail")?.contains("clear_lookups ok") == true, "\(all)")
        #expect((all.number("reclaimed_bytes") ?? 0) > 20 * 1_048_576, "\(all)")
        #expect(emergency.first { $0.text("action") == "emergency_throttle" }?.text("detail")?.contains("limit 4") == true)
    }

    /// A reference-cycle leak that only the collector can free: force_gc (POST /health/actions/gc)
    /// frees it, and the counts in the answer are the collector's own, as its statistics show.
    @Test func aReferenceCycleLeakIsFreedAndCountedInObjects() throws {
        let service = try Service("Tests/Peers/agent_service.py", environment: ["CYCLES": "50000"])
        let exporter = try Exporter(
            ["--pid", "\(service.child.pid)"],
            config: Self.config(warning: 4000, critical: 5000, emergency: 6000, autoResponse: #"{"settle_seconds": 0.2}"#))
        defer { exporter.stop() }
        #expect(waitFor(10) { runtime(exporter)["agents_up"] as? Int == 1 }, "\(runtime(exporter))")
        func collectedStat() -> Double {
            let generations = runtime(exporter)["generations"] as? [[String: Any]] ?? []
            return generations.reduce(0) { $0 + ($1.number("collected") ?? 0) }
        }
        let statBefore = collectedStat()
        let residentBefore = service.residentMB
        let response = try RawHTTP.request(port: exporter.healthPort, method: "POST", path: "/health/actions/gc")
        #expect(response.status == 200)
        let body = (try? JSONSerialization.jsonObject(with: Data(response.body))) as? [String: Any] ?? [:]
        #expect(body.text("units") == "objects" && body.text("scope") == "agent", "\(body)")
        let collected = body.number("collected_objects") ?? 0
        // 50 000 cycles: 100 000 Node objects (their payloads are not containers: freed, not counted).
        #expect(collected >= 100_000, "\(body)")
        // The service's own threads (the agent answering) may make a few objects between the two counts.
        #expect((body.number("before_objects") ?? 0) - (body.number("after_objects") ?? 0) >= 99_900, "\(body)")
        // The collector's own statistics rose by exactly what the answer says it collected.
        #expect(waitFor(5) { collectedStat() - statBefore == collected }, "stats \(collectedStat()) - \(statBefore) vs \(collected)")
        #expect(service.residentMB < residentBefore - 100, "RSS \(residentBefore) → \(service.residentMB) MB")
        #expect((body.number("reclaimed_bytes") ?? 0) > 100 * 1_048_576, "\(body)")
        #expect(metric(exporter, #"memory_reclaimed_objects_total{action="force_gc"}"#) == collected)
        #expect(metric(exporter, "memory_target_agent_up") == 1)
        #expect(metric(exporter, "memory_target_python_objects") != nil)
    }

    /// 16 workers through the agent's gate: at most `critical_limit` at once while critical, and
    /// the limit is restored when the level falls (a reload raises the thresholds). Threads, then asyncio.
    @Test(arguments: ["threads", "asyncio"])
    func throttlingHoldsWorkersToTheCriticalLimitAndIsRestored(mode: String) throws {
        let service = try Service("Tests/Peers/agent_service.py", environment: ["MODE": mode, "BALLAST_MB": "40"])
        let configPath = service.directory + "/config.json"
        func write(critical: Double) throws {
            try Self.config(
                warning: critical / 2, critical: critical, emergency: critical * 1000,
                autoResponse: #"{"settle_seconds": 0.2, "warning_actions": {"force_gc": false}, "critical_actions": {"throttle_operations": true}, "admission_gate": {"critical_limit": 4}}"#
            ).write(toFile: configPath, atomically: true, encoding: .utf8)
        }
        try write(critical: 20)
        let exporter = try Exporter(["--pid", "\(service.child.pid)", "--config", configPath])
        defer { exporter.stop() }
        func gate() -> [String: Any] { runtime(exporter)["gate"] as? [String: Any] ?? [:] }
        #expect(waitFor(15) { gate()["limit"] as? Int == 4 && gate()["throttled"] as? Bool == true }, "\(gate()) \(actions(exporter))")
        // The peak is counted from the throttle on: let the 16 workers run against the limit.
        Thread.sleep(forTimeInterval: 1.5)
        let throttled = gate()
        #expect(throttled["peak"] as? Int == 4, "\(throttled)")
        #expect((throttled["waiting"] as? Int ?? 0) >= 8, "\(throttled)")
        let record = actions(exporter).first { $0.text("action") == "throttle_operations" }
        #expect(record?.text("result") == "ok", "\(record ?? [:])")
        #expect(record?.text("detail")?.contains("limit 4") == true, "\(record ?? [:])")

        try write(critical: 100_000)
        kill(exporter.child.pid, SIGHUP)
        #expect(waitFor(15) { gate()["throttled"] as? Bool == false }, "\(gate())")
        #expect(waitFor(5) { (gate()["active"] as? Int ?? 0) > 4 }, "\(gate())")
        #expect(actions(exporter).first?.text("detail")?.contains("the service's own limit") == true, "\(actions(exporter))")

        // Throttled again, then the monitor stops: it gives the service its own limit back.
        try write(critical: 20)
        kill(exporter.child.pid, SIGHUP)
        #expect(waitFor(15) { gate()["throttled"] as? Bool == true }, "\(gate())")
        #expect(exporter.stop() == 0)
        #expect(exporter.child.stderr.contains("admission gate restored at shutdown"), "\(exporter.child.stderr.suffix(2000))")
        let curl = try ChildProcess("/usr/bin/curl", ["-s", "--unix-socket", service.socket, "http://agent/report"])
        #expect(curl.waitForExit(seconds: 10) == 0)
        let report = (try? JSONSerialization.jsonObject(with: Data(curl.stdout.utf8))) as? [String: Any] ?? [:]
        #expect((report["gate"] as? [String: Any])?["throttled"] as? Bool == false, "\(curl.stdout)")
    }

    /// The agent checks each connection's uid (SO_PEERCRED): a monitor running as a uid the
    /// service does not allow is refused, and says so.
    @Test func aMonitorWhoseUidIsNotAllowedIsRefused() throws {
        let service = try Service("Tests/Peers/agent_service.py")
        let exporter = try Exporter(
            ["--pid", "\(service.child.pid)"],
            config: Self.config(
                warning: 4000, critical: 5000, emergency: 6000, autoResponse: "{}", agent: #"{"socket": "\#(service.socket)"}"#),
            wrapper: Unprivileged.setpriv)
        defer { exporter.stop() }
        #expect(waitFor(10) { (runtime(exporter)["problems"] as? [String: String])?.values.contains { $0.contains("may not use this agent") } == true },
            "\(runtime(exporter))")
        #expect(runtime(exporter)["agents_up"] as? Int == 0)
        #expect(metric(exporter, "memory_target_agent_down") == 1)
        let memory = (try? exporter.health("/health/memory")) ?? [:]
        #expect(memory.text("gc_source") == "monitor" && memory["gc_objects"] is NSNull, "\(memory)")
    }

    /// A clearer that hangs for 60 s: checks go on at their interval, the agent keeps reporting,
    /// and the action is recorded as failed at its timeout.
    @Test func aHungClearerDelaysNoCheckAndFailsAtItsTimeout() throws {
        let service = try Service("Tests/Peers/agent_service.py", environment: ["HANG_CLEARER": "60", "BALLAST_MB": "40"])
        let exporter = try Exporter(
            ["--pid", "\(service.child.pid)"],
            config: Self.config(
                warning: 20, critical: 4000, emergency: 5000,
                autoResponse: #"{"settle_seconds": 0.2, "action_timeout_seconds": 1, "warning_actions": {"force_gc": false, "clear_caches": true}}"#))
        defer { exporter.stop() }
        #expect(waitFor(10) { actions(exporter).contains { $0.text("action") == "clear_caches" } })
        let checksBefore = metric(exporter, "memory_checks_total") ?? 0
        let started = Date()
        #expect(waitFor(15) { actions(exporter).first { $0.text("action") == "clear_caches" }?.text("result") == "failed" }, "\(actions(exporter))")
        let record = actions(exporter).first { $0.text("action") == "clear_caches" } ?? [:]
        #expect(record.text("detail")?.contains("hangs timeout") == true, "\(record)")
        #expect((record.number("duration_seconds") ?? 99) < 5, "\(record)")
        // Checks ran at their 0.2 s interval meanwhile, each reading the agent.
        let elapsed = Date().timeIntervalSince(started)
        Thread.sleep(forTimeInterval: 1)
        let checks = (metric(exporter, "memory_checks_total") ?? 0) - checksBefore
        #expect(checks >= (elapsed + 1) / 0.2 * 0.6, "\(checks) checks in \(elapsed + 1) s")
        #expect(metric(exporter, "memory_target_agent_up") == 1)
        #expect(runtime(exporter)["agents_up"] as? Int == 1)
    }

    /// A hung agent (the whole service stopped with SIGSTOP): each check waits at most
    /// `monitoring.agent.timeout_seconds`, the agent is reported down with the reason, and it is
    /// read again once the service runs.
    @Test func aHungAgentCostsAChecksAtMostItsTimeout() throws {
        let service = try Service("Tests/Peers/agent_service.py")
        let exporter = try Exporter(
            ["--pid", "\(service.child.pid)"],
            config: Self.config(warning: 4000, critical: 5000, emergency: 6000, autoResponse: "{}", agent: #"{"timeout_seconds": 0.1}"#))
        defer { exporter.stop() }
        #expect(waitFor(10) { runtime(exporter)["agents_up"] as? Int == 1 })
        kill(service.child.pid, SIGSTOP)
        defer { kill(service.child.pid, SIGCONT) }
        #expect(waitFor(10) { (runtime(exporter)["problems"] as? [String: String])?.values.contains { $0.hasPrefix("timeout") } == true }, "\(runtime(exporter))")
        #expect(metric(exporter, "memory_target_agent_down") == 1)
        let history = (try? exporter.health("/health/metrics/history?hours=1"))?["samples"] as? [[String: Any]] ?? []
        let recent = history.suffix(5).compactMap { $0.number("check_duration_seconds") }
        #expect(!recent.isEmpty && recent.allSatisfy { $0 < 0.1 + 0.15 }, "\(recent)")
        kill(service.child.pid, SIGCONT)
        #expect(waitFor(10) { runtime(exporter)["agents_up"] as? Int == 1 }, "\(runtime(exporter))")
    }

    /// A `--process-match` group of two services with agents: both are found, their collectors
    /// are summed, and the metrics count the agents without per-pid labels.
    @Test func aGroupSumsItsAgents() throws {
        let a = try Service("Tests/Peers/agent_service.py", environment: ["CYCLES": "1000"])
        let b = try Service("Tests/Peers/agent_service.py", environment: ["CYCLES": "2000"])
        let exporter = try Exporter(
            ["--process-match", "Peers/agent_service\\.py"],
            config: Self.config(warning: 4000, critical: 5000, emergency: 6000, autoResponse: "{}"))
        defer { exporter.stop() }
        #expect(waitFor(15) { runtime(exporter)["agents_up"] as? Int == 2 }, "\(runtime(exporter)) \(exporter.child.stderr.suffix(1500))")
        let objects = (try? exporter.health("/health/memory"))?["gc_objects"] as? Double ?? 0
        // Each holds its uncollected cycles (2 objects per cycle) besides its own few thousand.
        #expect(objects > 6000, "\(objects)")
        #expect(metric(exporter, "memory_target_agent_up") == 2)
        let text = (try? exporter.metrics().bodyText) ?? ""
        #expect(!text.contains("memory_target_python_objects{"), "no per-pid labels")
        _ = (a, b)
    }

    /// `monitoring.agent.socket_dir`: where the path the agent bound is not reachable from the
    /// monitor (a sidecar whose mount of the shared directory is elsewhere), the socket of that
    /// name in the shared directory is tried. Here the agent's directory is renamed after it bound:
    /// the bound path leads nowhere, the renamed directory holds the socket. Without the setting
    /// the monitor says it cannot reach the agent and names the setting.
    @Test func theSharedSocketDirectoryIsTriedWhenTheBoundPathIsNotReachable() throws {
        let service = try Service("Tests/Peers/agent_service.py")
        let moved = service.directory + "-shared"
        try FileManager.default.moveItem(atPath: service.directory, toPath: moved)
        defer { try? FileManager.default.removeItem(atPath: moved) }
        let config = { (agent: String) in Self.config(warning: 4000, critical: 5000, emergency: 6000, autoResponse: "{}", agent: agent) }
        do {
            let exporter = try Exporter(["--pid", "\(service.child.pid)"], config: config("{}"))
            defer { exporter.stop() }
            #expect(
                waitFor(10) { "\(runtime(exporter))".contains("cannot reach it") && "\(runtime(exporter))".contains("monitoring.agent.socket_dir") },
                "\(runtime(exporter))")
            #expect(metric(exporter, "memory_target_agent_up") == 0)
        }
        let exporter = try Exporter(["--pid", "\(service.child.pid)"], config: config("{\"socket_dir\": \"\(moved)\"}"))
        defer { exporter.stop() }
        #expect(waitFor(10) { runtime(exporter)["agents_up"] as? Int == 1 }, "\(runtime(exporter)) \(exporter.child.stderr.suffix(1500))")
        #expect(metric(exporter, "memory_target_agent_up") == 1)
    }

    /// Without an agent the behaviour is today's, and /health/memory says why there is none.
    @Test func aTargetWithoutAnAgentSaysWhy() throws {
        let child = try ChildProcess(TestEnvironment.python, ["-c", "import time; print('up', flush=True); time.sleep(600)"])
        defer { child.stop() }
        #expect(child.wait(seconds: 10) { child.stdout.contains("up") })
        let exporter = try Exporter(["--pid", "\(child.pid)"], config: Self.config(warning: 4000, critical: 5000, emergency: 6000, autoResponse: "{}"))
        defer { exporter.stop() }
        #expect(waitFor(10) { (runtime(exporter)["reason"] as? String)?.contains("no agent socket") == true }, "\(runtime(exporter))")
        #expect(metric(exporter, "memory_target_agent_up") == 0)
        #expect(metric(exporter, "memory_target_agent_down") == 0)
    }
}
