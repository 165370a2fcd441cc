import Foundation
import TestSupport
import Testing

/// Leak detection and prediction end to end: a real child whose memory grows (or saws), the
/// built exporter watching it, and a local webhook receiver.
@Suite("Leak detection end to end", .serialized, .offCooperativePool)
struct LeakDetectionTests {
    static func config(receiver: Int) -> String {
        """
        {"monitoring": {"check_interval": 0.2, "leak_detection": {"monitoring_window": 6, "threshold_growth_rate": 0.1}},
         "experimental": {"prediction_window": 60, "trend_threshold": 0.05},
         "thresholds": {"memory_warning_mb": 300, "memory_critical_mb": 600, "memory_emergency_mb": 900},
         "alerting": {"instance": "test-host", "webhook_url": "http://127.0.0.1:\(receiver)/hook", "delivery_timeout_seconds": 1,
                      "alert_levels": {"warning": {"channels": ["webhook"]}, "critical": {"channels": ["webhook"]},
                                       "emergency": {"channels": ["webhook"]}}}}
        """
    }

    func alerts(_ receiver: HTTPReceiver) -> [[String: Any]] {
        receiver.records(path: "/hook").compactMap { $0["body"] as? [String: Any] }
    }

    /// Grows 10 MiB/s for 20 s: a `memory_leak` alert and a `memory_trend` alert arrive, the
    /// trend before any critical alert, and the leak counter counts one episode.
    @Test func aLeakingChildIsDetectedAndPredicted() throws {
        let receiver = try HTTPReceiver()
        let child = try ChildProcess(TestEnvironment.python, [Peers.script("leaky.py"), "leak", "10", "20"])
        defer { child.stop() }
        #expect(child.wait(seconds: 20) { child.stdout.contains("ready") })
        let exporter = try Exporter(["--pid", "\(child.pid)"], config: Self.config(receiver: receiver.port))
        defer { exporter.stop() }
        #expect(waitFor(30) {
            let components = Set(alerts(receiver).compactMap { $0["component"] as? String })
            return components.contains("memory_leak") && components.contains("memory_trend")
        }, "received: \(alerts(receiver).map { $0["message"] ?? "?" })")
        let received = alerts(receiver)
        let leak = received.first { $0["component"] as? String == "memory_leak" }
        #expect(leak?["severity"] as? String == "warning")
        #expect((leak?["message"] as? String)?.contains("memory leak suspected") == true)
        let trendIndex = received.firstIndex { $0["component"] as? String == "memory_trend" }
        let criticalIndex = received.firstIndex { $0["severity"] as? String == "critical" && $0["component"] as? String == "process_memory" }
        #expect(trendIndex != nil && (criticalIndex == nil || trendIndex! < criticalIndex!))
        #expect((received[trendIndex ?? 0]["message"] as? String)?.contains("crosses") == true)
        let text = try exporter.metrics().bodyText
        #expect(text.contains("memory_leaks_detected_total 1"))
        #expect(text.contains("memory_growth_rate_bytes_per_second{basis="))
        let growth = try exporter.health("/health/memory")["growth"] as? [String: Any]
        #expect(growth?["leak_suspected"] as? Bool == true)
    }

    /// The same child allocating and freeing 40 MiB every 2 s raises no leak.
    @Test func aSawtoothRaisesNothing() throws {
        let receiver = try HTTPReceiver()
        let child = try ChildProcess(TestEnvironment.python, [Peers.script("leaky.py"), "sawtooth", "40", "2", "14"])
        defer { child.stop() }
        #expect(child.wait(seconds: 20) { child.stdout.contains("ready") })
        let exporter = try Exporter(["--pid", "\(child.pid)"], config: Self.config(receiver: receiver.port))
        defer { exporter.stop() }
        #expect(child.wait(seconds: 30) { child.stdout.contains("done") })
        let text = try exporter.metrics().bodyText
        #expect(text.contains("memory_leaks_detected_total 0"))
        #expect(!alerts(receiver).contains { $0["component"] as? String == "memory_leak" }, "\(alerts(receiver).map { $0["message"] ?? "?" })")
    }

    /// With --state-dir, history survives a restart (and with it the leak detector's window).
    @Test func historySurvivesARestart() throws {
        let directory = NSTemporaryDirectory() + "mm-state-\(UUID().uuidString)"
        let first = try Exporter(["--check-interval", "0.2", "--state-dir", directory])
        #expect(waitFor(10) { ((try? first.health("/health/metrics/history?hours=1"))?["count"] as? Int ?? 0) >= 5 })
        let before = (try first.health("/health/metrics/history?hours=1")["count"] as? Int) ?? 0
        #expect(first.stop() == 0)
        let second = try Exporter(["--check-interval", "0.2", "--state-dir", directory])
        defer { second.stop() }
        #expect(second.child.stderr.contains("history recovered from the state directory"))
        let after = (try second.health("/health/metrics/history?hours=1")["count"] as? Int) ?? 0
        #expect(after >= before)
        #expect(FileManager.default.fileExists(atPath: directory + "/history.jsonl"))
    }
}
