import Foundation
import TestSupport
import Testing

/// Actions reach only the target (issue 24), against real processes and the built binary: a
/// reused pid receives nothing, the monitor never matches itself through its wrapper, a group's
/// clean-up signal goes to its leaves and its restart to its roots, and a cooldown of 0 does not
/// make actions trigger themselves.
@Suite("Actions reach only the target", .serialized, .offCooperativePool)
struct TargetSafetyTests {
    static func config(_ actions: String, warning: Int = 35, critical: Int = 4000, interval: Double = 0.2, settle: Double = 0.5, cooldown: Double = 30)
        -> String
    {
        """
        {"monitoring": {"check_interval": \(interval), "leak_detection": {"enabled": false}},
         "experimental": {"predictive_alerting": false},
         "thresholds": {"memory_warning_mb": \(warning), "memory_critical_mb": \(critical), "memory_emergency_mb": 8000},
         "alerting": {"instance": "test-host"},
         "auto_response": {"cooldown_seconds": \(cooldown), "settle_seconds": \(settle), "action_timeout_seconds": 2, \(actions)}}
        """
    }

    static func recorder(_ events: String, _ tag: String, handle: String = "", exitOn: String = "", mb: Int = 0) -> [String] {
        var arguments = [Peers.script("signal_recorder.py"), events, tag, "--mb", "\(mb)"]
        if !handle.isEmpty { arguments += ["--handle", handle] }
        if !exitOn.isEmpty { arguments += ["--exit-on", exitOn] }
        return arguments
    }

    /// A signal recorder started and ready (stopped by the caller).
    static func startRecorder(_ events: String, _ tag: String, handle: String = "", exitOn: String = "", mb: Int) throws -> ChildProcess {
        let target = try ChildProcess(TestEnvironment.python, recorder(events, tag, handle: handle, exitOn: exitOn, mb: mb))
        #expect(target.wait(seconds: 20) { target.stdout.contains("ready") })
        return target
    }

    static func received(_ events: String) -> [String] {
        ((try? String(contentsOfFile: events, encoding: .utf8)) ?? "").split(separator: "\n").map(String.init)
    }

    static func actions(_ exporter: Exporter) -> [[String: Any]] {
        ((try? exporter.health("/health/actions?hours=1"))?["actions"] as? [[String: Any]]) ?? []
    }

    /// The first child process of `parent` (the monitor under its wrapper).
    static func child(of parent: Int32) -> Int32? {
        let pids = ((try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []).compactMap { Int32($0) }
        return pids.first { pid in
            let stat = (try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8)) ?? ""
            guard let close = stat.lastIndex(of: ")") else { return false }
            let fields = stat[stat.index(after: close)...].split(separator: " ")
            return fields.count > 1 && Int32(fields[1]) == parent
        }
    }

    /// Gone, or a zombie its parent has not reaped yet.
    static func hasExited(_ pid: Int32) -> Bool {
        guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8), let close = stat.lastIndex(of: ")") else { return true }
        return stat[stat.index(after: close)...].split(separator: " ").first == "Z"
    }

    static func tag() -> String { "mmtag" + UUID().uuidString.prefix(8).lowercased() }

    /// The target takes SIGUSR1 and exits; during the settle wait a new process is started with
    /// its pid (ns_last_pid). The restart that follows is skipped with the reason, and the new
    /// process receives nothing.
    @Test func aReusedPidReceivesNothing() throws {
        let events = NSTemporaryDirectory() + "mm-reuse-target-\(UUID().uuidString)"
        let victimEvents = NSTemporaryDirectory() + "mm-reuse-victim-\(UUID().uuidString)"
        let target = try Self.startRecorder(events, Self.tag(), exitOn: "SIGUSR1", mb: 60)
        defer { target.stop() }
        let pid = target.pid
        let reuse = try ChildProcess(TestEnvironment.python, [Peers.script("reuse_pid.py"), "\(pid)", victimEvents])
        defer { reuse.stop() }
        let exporter = try Exporter(
            ["--pid", "\(pid)"],
            config: Self.config(
                #""warning_actions": {"force_gc": false}, "critical_actions": {"signal": "SIGUSR1", "restart": {"signal": "SIGTERM"}}"#,
                critical: 40, settle: 3))
        defer { exporter.stop() }
        #expect(waitFor(40) { Self.actions(exporter).contains { $0.text("action") == "restart" } }, "\(exporter.child.stderr)")
        #expect(reuse.wait(seconds: 10) { reuse.stdout.contains("reused \(pid)") }, "the pid was not reused: \(reuse.stdout) \(reuse.stderr)")
        let records = Self.actions(exporter)
        let signal = records.first { $0.text("action") == "signal" }
        #expect(signal?.text("result") == "ok")
        #expect(Self.received(events) == ["SIGUSR1 \(pid)"])
        let restart = records.first { $0.text("action") == "restart" }
        #expect(restart?.text("result") == "skipped", "\(restart ?? [:])")
        #expect(restart?.text("detail")?.contains("the target is gone") == true, "\(restart ?? [:])")
        Thread.sleep(forTimeInterval: 1)
        #expect(Self.received(victimEvents).isEmpty, "the process that reused the pid was signalled")
        #expect(kill(pid, 0) == 0, "the process that reused the pid is alive")
    }

    /// The monitor runs under a wrapper whose command line holds the pattern (as its own does).
    /// The group is the real target alone; the restart reaches it, and the monitor survives.
    @Test(arguments: [["/usr/bin/timeout", "120"], ["/bin/sh", "-c", "\"$0\" \"$@\"; exit $?"]])
    func theMonitorNeverMatchesItsWrapper(_ wrapper: [String]) throws {
        let tag = Self.tag()
        let events = NSTemporaryDirectory() + "mm-wrapped-\(UUID().uuidString)"
        let target = try Self.startRecorder(events, tag, exitOn: "SIGTERM", mb: 60)
        defer { target.stop() }
        let exporter = try Exporter(
            ["--process-match", tag],
            config: Self.config(#""warning_actions": {"force_gc": false}, "critical_actions": {"restart": {"signal": "SIGTERM"}}"#, critical: 40),
            wrapper: wrapper)
        // Stopped by its own pid first: `sh -c` does not pass SIGTERM on to its child.
        let monitor = Self.child(of: exporter.child.pid)
        defer {
            if let monitor { kill(monitor, SIGTERM) }
            _ = waitFor(10) { monitor.map { Self.hasExited($0) } ?? true }
            exporter.stop()
        }
        #expect(monitor != nil)
        // The wrapper is a separate process whose command line contains the pattern.
        let wrapperLine = (try? String(contentsOfFile: "/proc/\(exporter.child.pid)/cmdline", encoding: .utf8)) ?? ""
        #expect(wrapperLine.contains(tag))
        #expect(waitFor(30) { Self.actions(exporter).contains { $0.text("action") == "restart" } }, "\(exporter.child.stderr)")
        let restart = Self.actions(exporter).first { $0.text("action") == "restart" }
        #expect(restart?.text("result") == "ok", "\(restart ?? [:])")
        #expect(restart?.text("detail") == "SIGTERM sent to pid \(target.pid)")
        #expect(Self.received(events) == ["SIGTERM \(target.pid)"])
        #expect(exporter.child.process.isRunning, "the monitor (or its wrapper) died")
        #expect(try RawHTTP.request(port: exporter.healthPort, path: "/health").status != 0)
    }

    /// Two targets, one under timeout, one under tini, matched as one group with their wrappers.
    /// The clean-up signal goes to the two workers (the leaves), once each, and not through the
    /// wrappers; the restart goes to the wrappers (the roots), which stop their workers.
    @Test func aGroupsLeavesGetTheSignalAndItsRootsTheRestart() throws {
        let tag = Self.tag()
        let events = NSTemporaryDirectory() + "mm-group-\(UUID().uuidString)"
        let worker = Self.recorder(events, tag, handle: "SIGUSR1", exitOn: "SIGTERM", mb: 30)
        let underTimeout = try ChildProcess("/usr/bin/timeout", ["120", TestEnvironment.python] + worker)
        defer { underTimeout.stop() }
        let underTini = try ChildProcess("/usr/bin/tini", ["-s", "--", TestEnvironment.python] + worker)
        defer { underTini.stop() }
        #expect(waitFor(20) { underTimeout.stdout.contains("ready") && underTini.stdout.contains("ready") })
        func workerPid(_ wrapper: ChildProcess) -> Int32 {
            Int32(wrapper.stdout.split(separator: " ").last?.trimmingCharacters(in: .whitespacesAndNewlines) ?? "") ?? 0
        }
        let workers = [workerPid(underTimeout), workerPid(underTini)].sorted()
        let wrappers = [underTimeout.pid, underTini.pid].sorted()
        #expect(workers.allSatisfy { $0 > 0 })
        do {
            let exporter = try Exporter(["--process-match", tag], config: Self.config(#""warning_actions": {"signal": "SIGUSR1"}"#))
            defer { exporter.stop() }
            #expect(waitFor(30) { Self.actions(exporter).contains { $0.text("action") == "signal" } }, "\(exporter.child.stderr)")
            let pids = (try? exporter.health("/health/memory"))?["pids"] as? [Double] ?? []
            #expect(pids.map { Int32($0) } == (workers + wrappers).sorted())
            let signal = Self.actions(exporter).first { $0.text("action") == "signal" }
            #expect(signal?.text("result") == "ok", "\(signal ?? [:])")
            #expect(signal?.text("detail") == "SIGUSR1 sent to pid \(workers.map(String.init).joined(separator: ","))")
            Thread.sleep(forTimeInterval: 0.5)
            #expect(Self.received(events).sorted() == workers.map { "SIGUSR1 \($0)" }.sorted())
            #expect(underTimeout.process.isRunning && underTini.process.isRunning, "a wrapper or its worker died")
        }
        let exporter = try Exporter(
            ["--process-match", tag],
            config: Self.config(#""warning_actions": {"force_gc": false}, "critical_actions": {"restart": {"signal": "SIGTERM"}}"#, critical: 40))
        defer { exporter.stop() }
        #expect(waitFor(30) { Self.actions(exporter).contains { $0.text("action") == "restart" } }, "\(exporter.child.stderr)")
        let restart = Self.actions(exporter).first { $0.text("action") == "restart" }
        #expect(restart?.text("result") == "ok", "\(restart ?? [:])")
        #expect(restart?.text("detail") == "SIGTERM sent to pid \(wrappers.map(String.init).joined(separator: ","))")
        // Each wrapper passed the stop on to its worker, and exited with it.
        #expect(waitFor(10) { Self.received(events).filter { $0.hasPrefix("SIGTERM") }.count == 2 }, "\(Self.received(events))")
        #expect(Set(Self.received(events).filter { $0.hasPrefix("SIGTERM") }) == Set(workers.map { "SIGTERM \($0)" }))
        #expect(waitFor(10) { !underTimeout.process.isRunning && !underTini.process.isRunning })
        #expect(exporter.child.process.isRunning)
    }

    /// cooldown_seconds 0: the check a round's settle wait asks for does not start the next
    /// round; at most one round per check interval. The refused restart alerts once (rate limit).
    @Test func aZeroCooldownRunsOneRoundPerInterval() throws {
        let events = NSTemporaryDirectory() + "mm-cooldown-\(UUID().uuidString)"
        let runs = NSTemporaryDirectory() + "mm-cooldown-runs-\(UUID().uuidString)"
        let target = try Self.startRecorder(events, Self.tag(), handle: "SIGTERM", mb: 60)
        defer { target.stop() }
        let command = #"["/bin/sh", "-c", "echo run >> \#(runs)"]"#
        let exporter = try Exporter(
            ["--pid", "\(target.pid)"],
            config: Self.config(
                #""warning_actions": {"force_gc": false}, "critical_actions": {"command": \#(command), "restart": {"signal": "SIGTERM", "max_per_hour": 1}}"#,
                critical: 40, interval: 1, settle: 0.3, cooldown: 0))
        defer { exporter.stop() }
        #expect(waitFor(20) { !Self.received(runs).isEmpty })
        let started = Date()
        Thread.sleep(forTimeInterval: 6)
        let elapsed = Date().timeIntervalSince(started)
        let count = Self.received(runs).count
        print("cooldown 0: \(count) command runs in \(String(format: "%.1f", elapsed)) s at a 1 s interval")
        // One round per 1 s interval at most (before the fix: 139 command runs in 15 s at 5 s).
        #expect(count <= Int(elapsed) + 2, "\(count) command runs in \(elapsed) s")
        #expect(count >= 3, "cooldown 0 still repeats the round each interval: \(count)")
        #expect(Self.received(events) == ["SIGTERM \(target.pid)"], "one restart, the others refused")
        // Each refused restart raises the refusal alert; the first is sent, the rate limit holds the rest.
        func refusedRestarts() -> Int {
            Self.actions(exporter).filter { $0.text("action") == "restart" && $0.text("result") == "skipped" }.count
        }
        #expect(waitFor(10) { refusedRestarts() >= 2 })
        let refused = refusedRestarts()
        let alerts = ((try? exporter.health("/health/alerts?hours=1"))?["alerts"] as? [[String: Any]]) ?? []
        let refusals = alerts.filter { $0.text("component") == "auto_response" }
        #expect(refusals.count == 1, "\(refusals.count) refusal alerts for \(refused) refused restarts")
        let text = (try? exporter.metrics().bodyText) ?? ""
        let held = text.split(separator: "\n").first { $0.hasPrefix(#"memory_alerts_rate_limited_total{component="auto_response",severity="critical"}"#) }
        #expect((held.flatMap { Double($0.split(separator: " ").last ?? "") } ?? 0) >= Double(refused - 1), "\(held ?? "no series"), \(refused) refused")
    }
}
