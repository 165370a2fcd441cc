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
