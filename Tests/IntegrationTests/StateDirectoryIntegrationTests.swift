import Foundation
import TestSupport
import Testing

/// The state directory as the binary uses it, on a 64 KiB tmpfs that fills up: a start on a
/// full disk keeps the journal, a SIGKILL while full loses no alert, and once space is back every
/// alert is delivered.
@Suite("State directory on a full disk, as it ships", .serialized, .offCooperativePool)
struct StateDirectoryIntegrationTests {
    static func config(webhookPort: Int) -> String {
        """
        {"monitoring": {"check_interval": 0.2, "leak_detection": {"enabled": false}},
         "experimental": {"predictive_alerting": false},
         "thresholds": {"memory_warning_mb": 40, "memory_critical_mb": 100, "memory_emergency_mb": 200000},
         "alerting": {"instance": "test-host", "delivery_timeout_seconds": 1, "max_retry_interval_seconds": 1,
                      "webhook_url": "http://127.0.0.1:\(webhookPort)/hook",
                      "alert_levels": {"warning": {"channels": ["log", "webhook"]}, "critical": {"channels": ["log", "webhook"]}}},
         "auto_response": {"enabled": false}}
        """
    }

    static func firingIDs(_ exporter: Exporter) -> Set<String> {
        let alerts = ((try? exporter.health("/health/alerts?hours=1"))?["alerts"] as? [[String: Any]]) ?? []
        return Set(alerts.filter { $0["status"] as? String == "firing" }.compactMap { $0["id"] as? String })
    }

    static func metric(_ exporter: Exporter, _ series: String) -> Double? {
        let text = (try? exporter.metrics().bodyText) ?? ""
        return text.split(separator: "\n").first { $0.hasPrefix(series + " ") }.flatMap { Double($0.split(separator: " ").last ?? "") }
    }

    @Test func aSigkillOnAFullDiskLosesNoAlert() throws {
        let disk = try SmallDisk()
        let state = disk.path + "/state"
        let journal = state + "/alerts.journal"
        let port = TestEnvironment.freePort()  // nothing listens yet: deliveries stay pending
        let hog = try MemoryHog(stepMiB: 60)
        let config = Self.config(webhookPort: port)

        // A warning while there is space: journaled as pending.
        let first = try Exporter(["--pid", "\(hog.pid)", "--state-dir", state], config: config)
        hog.grow()
        #expect(waitFor(20) { Self.firingIDs(first).count == 1 && ((try? String(contentsOfFile: journal, encoding: .utf8)) ?? "").contains("\"queued\"") })
        var expected = Self.firingIDs(first)
        kill(first.child.pid, SIGKILL)
        first.stop()

        // The disk fills up; the next start cannot compact anything and must not lose the journal.
        disk.fill()
        let before = try String(contentsOfFile: journal, encoding: .utf8)
        let second = try Exporter(["--pid", "\(hog.pid)", "--state-dir", state], config: config)
        #expect(waitFor(10) { (Self.metric(second, #"memory_state_write_errors_total{file="alerts.journal"}"#) ?? 0) >= 1 }, "\(second.child.stderr)")
        #expect(second.child.stderr.contains("state file write failed"))
        #expect((try? String(contentsOfFile: journal, encoding: .utf8)).map { $0.hasPrefix(before) } == true, "the journal was cut")
        // A critical alert while the disk is full; then a SIGKILL.
        hog.hold(2)
        #expect(waitFor(20) { Self.firingIDs(second).count == 2 })
        expected.formUnion(Self.firingIDs(second))
        Thread.sleep(forTimeInterval: 0.5)
        kill(second.child.pid, SIGKILL)
        second.stop()

        // Space comes back, the receiver starts: every alert is delivered.
        disk.free()
        let receiver = try HTTPReceiver(port: port)
        defer { receiver.stop() }
        let third = try Exporter(["--pid", "\(hog.pid)", "--state-dir", state], config: config)
        defer { third.stop() }
        func delivered() -> Set<String> {
            Set(receiver.records(path: "/hook").compactMap { ($0["body"] as? [String: Any])?["id"] as? String })
        }
        #expect(expected.count == 2)
        #expect(waitFor(20) { delivered().isSuperset(of: expected) }, "expected \(expected), delivered \(delivered())")
        #expect(!third.child.stderr.contains("is not a journal entry"))
    }
}

/// Mutated state files loaded by the binary as it ships: each start must serve, answer the
/// history and alert requests, and stop cleanly (exit 0), never trap into a crash loop.
@Suite("Tampered state files, as it ships", .serialized, .offCooperativePool)
struct StateFuzzIntegrationTests {
    @Test func mutatedStateFilesNeverCrashTheBinary() throws {
        let base = NSTemporaryDirectory() + "mm-bin-fuzz-\(UUID().uuidString)"
        let state = base + "/state"
        // Real files first: one run of the binary that alerts and keeps history.
        let hog = try MemoryHog(stepMiB: 60)
        do {
            let config = #"{"monitoring": {"check_interval": 0.1}, "thresholds": {"memory_warning_mb": 40, "memory_critical_mb": 100}, "alerting": {"webhook_url": "http://127.0.0.1:9/hook", "shutdown_grace_seconds": 0.5}}"#
            let exporter = try Exporter(["--pid", "\(hog.pid)", "--state-dir", state], config: config)
            hog.grow()
            _ = waitFor(10) { ((try? String(contentsOfFile: state + "/alerts.journal", encoding: .utf8)) ?? "").contains("queued") }
            Thread.sleep(forTimeInterval: 1)
            #expect(exporter.stop() == 0)
        }
        let journal = try String(contentsOfFile: state + "/alerts.journal", encoding: .utf8)
        let history = try String(contentsOfFile: state + "/history.jsonl", encoding: .utf8)
        #expect(journal.contains("\"queued\"") && history.split(separator: "\n").count >= 5)
        var rng = SeededGenerator(state: 2024)
        let starts = 150
        var served = 0
        for iteration in 0..<starts {
            try? FileManager.default.removeItem(atPath: state)
            try FileManager.default.createDirectory(atPath: state, withIntermediateDirectories: true)
            try StateFileMutator.mutate(journal, using: &rng).write(toFile: state + "/alerts.journal", atomically: false, encoding: .utf8)
            try StateFileMutator.mutate(history, using: &rng).write(toFile: state + "/history.jsonl", atomically: false, encoding: .utf8)
            let exporter = try Exporter(["--state-dir", state, "--pid", "\(hog.pid)"])
            let paths = ["/health/metrics/history?hours=1", "/health/metrics/history?hours=24&step=60", "/health/alerts?hours=24", "/health/memory"]
            // /health/memory is 503 until the first check has completed (a busy machine may take a
            // moment): wait for it, then every path must answer 200.
            _ = waitFor(10) { (try? RawHTTP.request(port: exporter.healthPort, path: "/health/memory").status) == 200 }
            let failures = paths.compactMap { path -> String? in
                let status = (try? RawHTTP.request(port: exporter.healthPort, path: path).status).map(String.init) ?? "no answer"
                return status == "200" ? nil : "\(path): \(status)"
            }
            if failures.isEmpty { served += 1 } else { Issue.record("start \(iteration): \(failures); \(exporter.child.stderr.suffix(1500))") }
            let status = exporter.stop()
            #expect(status == 0, "start \(iteration) ended with \(status): \(exporter.child.stderr.suffix(2000))")
            let outside = try FileManager.default.contentsOfDirectory(atPath: base)
            #expect(outside == ["state"], "start \(iteration) wrote outside the state directory: \(outside)")
        }
        #expect(served == starts)
        print("binary state fuzz: \(served) of \(starts) starts served history, alerts and memory; all exited 0")
        try? FileManager.default.removeItem(atPath: base)
    }
}
