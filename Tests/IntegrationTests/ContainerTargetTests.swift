import Foundation
import TestSupport
import Testing

/// Targets as containers have them: a cgroup with a limit and the OOM killer, and groups of
/// processes chosen by command line.
@Suite("Targets in cgroups and groups", .serialized, .offCooperativePool)
struct ContainerTargetTests {
    func counter(_ text: String, _ name: String) -> Double? {
        text.split(separator: "\n").first { $0.hasPrefix(name + " ") }.flatMap { Double($0.split(separator: " ").last ?? "") }
    }

    /// A pidfile target in a 150 MiB memory cgroup grows until the OOM killer kills it. The
    /// exporter sends an emergency `oom` alert and a `target` alert, never "RESOLVED: Memory
    /// usage"; `memory_cgroup_oom_kills_total` never decreases, also when a new target in another
    /// cgroup takes over.
    @Test func oomKilledTargetInARealCgroup() throws {
        guard let memoryCgroup = try MemoryCgroup(prefix: "mm-oom", limitBytes: 150 << 20) else { return }
        defer { memoryCgroup.remove() }
        let cgroup = memoryCgroup.path
        let receiver = try HTTPReceiver()
        let hog = try MemoryHog(stepMiB: 40)
        try "\(hog.pid)".write(toFile: cgroup + "/cgroup.procs", atomically: false, encoding: .utf8)
        let pidfile = NSTemporaryDirectory() + "mm-oom-\(UUID().uuidString).pid"
        try "\(hog.pid)\n".write(toFile: pidfile, atomically: true, encoding: .utf8)
        let exporter = try Exporter(
            ["--pidfile", pidfile],
            config: """
                {"monitoring": {"check_interval": 0.2},
                 "alerting": {"instance": "test-host", "webhook_url": "http://127.0.0.1:\(receiver.port)/hook", "delivery_timeout_seconds": 1,
                              "alert_levels": {"warning": {"channels": ["webhook"]}, "critical": {"channels": ["webhook"]},
                                               "emergency": {"channels": ["webhook"]}}}}
                """)
        defer { exporter.stop() }
        var memory: [String: Any] = [:]
        #expect(waitFor {
            memory = (try? exporter.health("/health/memory")) ?? [:]
            return (memory["cgroup"] as? [String: Any])?["directory"] as? String == cgroup
        })
        #expect(memory["limit_source"] as? String == "cgroup")
        #expect(memory["limit_mb"] as? Double == 150)

        var kills: [Double] = []
        try "5".write(toFile: hog.control, atomically: true, encoding: .utf8)  // 200 MiB in a 150 MiB cgroup
        #expect(waitFor(30) {
            if let k = counter((try? exporter.metrics().bodyText) ?? "", "memory_cgroup_oom_kills_total") { kills.append(k) }
            return (kills.last ?? 0) >= 1
        })
        let events = try String(contentsOfFile: cgroup + "/memory.oom_control", encoding: .utf8)
        #expect(events.contains("oom_kill 1"))
        #expect(waitFor { !hog.child.process.isRunning })
        // The exporter sees the target gone before the pid file names another process (on a busy
        // machine the rewrite could otherwise land between two checks).
        #expect(waitFor { ((try? exporter.health("/health/memory"))?["target_state"] as? String) == "gone" })

        // A new target in another cgroup: the counter must not go back to that cgroup's count.
        let next = try MemoryHog(stepMiB: 1)
        try "\(next.pid)\n".write(toFile: pidfile, atomically: true, encoding: .utf8)
        #expect(waitFor { ((try? exporter.health("/health/memory"))?["pid"] as? Int) == Int(next.pid) })
        for _ in 0..<5 {
            if let k = counter(try exporter.metrics().bodyText, "memory_cgroup_oom_kills_total") { kills.append(k) }
            usleep(200_000)
        }
        #expect(zip(kills, kills.dropFirst()).allSatisfy { $0 <= $1 }, "the counter went down: \(kills)")
        #expect(kills.last == 1)

        #expect(waitFor {
            let bodies = receiver.records(path: "/hook").compactMap { $0["body"] as? [String: Any] }
            return bodies.contains { $0["component"] as? String == "oom" } && bodies.contains { $0["component"] as? String == "target" }
        }, "received: \(receiver.records.map { ($0["body"] as? [String: Any])?["message"] ?? "?" }); log: \(exporter.child.stderr.suffix(3000))")
        let bodies = receiver.records(path: "/hook").compactMap { $0["body"] as? [String: Any] }
        let oom = bodies.first { $0["component"] as? String == "oom" }
        #expect(oom?["severity"] as? String == "emergency")
        #expect(oom?["status"] as? String == "firing")
        let messages = bodies.compactMap { $0["message"] as? String }
        #expect(!messages.contains { $0.hasPrefix("RESOLVED: Memory usage") }, "\(messages)")
        let summary = try exporter.health("/health/alerts?hours=1")
        #expect((summary["by_component"] as? [String: Int])?["oom"] == 1)
        #expect(summary["active_alerts"] as? Int == (try exporter.health("/health"))["active_alerts"] as? Int)
        next.child.stop()
    }

    /// `--process-match` chooses by full command line (what `--process-name` could not do for
    /// `python3 crawler.py`), and several matches form one group whose figures are sums.
    @Test func processMatchFormsAGroup() throws {
        let a = try MemoryHog(stepMiB: 30)
        let b = try MemoryHog(stepMiB: 30)
        a.grow()
        b.grow()
        let tokenA = (a.control as NSString).lastPathComponent
        let tokenB = (b.control as NSString).lastPathComponent
        let exporter = try Exporter(["--process-match", "memory_hog\\.py .*(\(tokenA)|\(tokenB))$", "--check-interval", "0.2"])
        defer { exporter.stop() }
        var memory: [String: Any] = [:]
        #expect(waitFor {
            memory = (try? exporter.health("/health/memory")) ?? [:]
            return memory["processes"] as? Int == 2
        })
        #expect(Set(memory["pids"] as? [Int] ?? []) == [Int(a.pid), Int(b.pid)])
        #expect((memory["rss_mb"] as? Double ?? 0) > 60)  // two 30 MiB blocks and two interpreters
        let text = try exporter.metrics().bodyText
        #expect(text.contains("memory_target_processes 2"))
        // One member leaves: the group goes on with the other.
        b.child.stop()
        #expect(waitFor { ((try? exporter.health("/health/memory"))?["processes"] as? Int) == 1 })
        // An invalid pattern is a configuration error naming the flag.
        let bad = try ChildProcess(TestEnvironment.binary, ["--process-match", "(unclosed", "--check-config"])
        #expect(bad.waitForExit(seconds: 20) == 2)
        #expect(bad.stderr.contains("--process-match: \"(unclosed\" is not allowed; expected a regular expression"))
    }
}
