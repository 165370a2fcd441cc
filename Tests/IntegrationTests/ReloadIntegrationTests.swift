import Foundation
import TestSupport
import Testing

/// SIGHUP on the built binary: a new threshold takes effect, alert history and levels stay, the
/// log file is reopened (logrotate), and a bad configuration keeps the old one and says why.
@Suite("Reload on SIGHUP", .serialized, .offCooperativePool)
struct ReloadIntegrationTests {
    func threshold(_ exporter: Exporter) -> String? {
        let text = (try? exporter.metrics().bodyText) ?? ""
        return text.split(separator: "\n").first { $0.hasPrefix(#"memory_threshold_bytes{component="process_memory",severity="critical"}"#) }
            .map { String($0.split(separator: " ").last ?? "") }
    }

    @Test func sighupReloadsKeepsAlertStateAndReopensTheLog() throws {
        let directory = NSTemporaryDirectory() + "mm-reload-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let configPath = directory + "/config.json"
        let logPath = directory + "/logs/mm.log"
        func write(critical: Int, extra: String = "") throws {
            try """
                {"monitoring": {"check_interval": 0.2}, "logging": {"file": "\(logPath)"},
                 "thresholds": {"memory_warning_mb": 1, "memory_critical_mb": \(critical), "memory_emergency_mb": 100000}\(extra)}
                """.write(toFile: configPath, atomically: true, encoding: .utf8)
        }
        try write(critical: 50_000)
        let exporter = try Exporter(["--config", configPath])
        defer { exporter.stop() }
        #expect(waitFor(10) { ((try? exporter.health("/health/alerts?hours=1"))?["total_alerts"] as? Int ?? 0) >= 1 })
        #expect(threshold(exporter) == "52428800000")

        // logrotate moves the file away, then signals.
        try FileManager.default.moveItem(atPath: logPath, toPath: logPath + ".1")
        try write(critical: 2)
        kill(exporter.child.pid, SIGHUP)
        #expect(waitFor(10) { threshold(exporter) == "2097152" })
        // The warning alert stayed active; the new critical threshold raised a critical one.
        #expect(waitFor(10) {
            let alerts = (try? exporter.health("/health/alerts?hours=1"))?["by_severity"] as? [String: Int] ?? [:]
            return alerts["warning"] == 1 && alerts["critical"] == 1
        })
        #expect(waitFor(5) { (try? String(contentsOfFile: logPath, encoding: .utf8))?.contains("configuration reloaded applied=thresholds") == true })
        #expect(FileManager.default.fileExists(atPath: logPath + ".1"))

        // A misspelt key on a reload that loads: ignored, and the log says so (it said nothing).
        try write(critical: 2, extra: #", "alerting": {"rate_limit_secondz": 30}"#)
        kill(exporter.child.pid, SIGHUP)
        #expect(waitFor(10) {
            (try? String(contentsOfFile: logPath, encoding: .utf8))?.contains("unknown configuration key is ignored key=alerting.rate_limit_secondz") == true
        })

        // A bad configuration: the old one stays in force, and the log says why, with its unknown keys.
        try "{\"thresholds\": {\"memory_critical_mb\": -5, \"memory_critcal_mb\": 3}}".write(toFile: configPath, atomically: true, encoding: .utf8)
        kill(exporter.child.pid, SIGHUP)
        #expect(waitFor(10) { exporter.child.stderr.contains("reload failed: the configuration in force is kept") })
        #expect(exporter.child.stderr.contains("thresholds.memory_critical_mb: -5 is not allowed"))
        #expect(exporter.child.stderr.contains("unknown configuration key is ignored key=thresholds.memory_critcal_mb"))
        #expect(threshold(exporter) == "2097152")
        #expect(try RawHTTP.request(port: exporter.healthPort, path: "/health").status == 200)
        #expect(exporter.stop() == 0)
    }

    @Test func jsonLogsAreOneObjectPerLine() throws {
        let exporter = try Exporter(["--check-interval", "0.2"], config: #"{"logging": {"format": "json"}}"#)
        #expect(waitFor(5) { exporter.child.stderr.contains("\"msg\":\"check loop started\"") })
        #expect(exporter.stop() == 0)
        let lines = exporter.child.stderr.split(separator: "\n")
        #expect(lines.count >= 3)
        for line in lines {
            let object = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any]
            #expect(object?["time"] is String && object?["level"] is String && object?["msg"] is String, "not a JSON log line: \(line)")
        }
    }
}
