import Foundation
import TestSupport
import Testing

/// Alerts from the built binary to real peers on 127.0.0.1: a local HTTP receiver (webhook and
/// Slack), aiosmtpd with STARTTLS and AUTH, and Debian's Alertmanager.
@Suite("Alert delivery to real peers", .serialized, .offCooperativePool)
struct AlertingIntegrationTests {
    /// A configuration with the hog's thresholds: warning at 40 MiB (the interpreter alone is ~10 MiB).
    static func config(_ alerting: String) -> String {
        """
        {"monitoring": {"check_interval": 0.2},
         "thresholds": {"memory_warning_mb": 40, "memory_critical_mb": 100000, "memory_emergency_mb": 200000},
         "alerting": {"instance": "test-host", "delivery_timeout_seconds": 1, "max_retry_interval_seconds": 1,
                      "shutdown_grace_seconds": 0.5, \(alerting)}}
        """
    }

    @Test func webhookSlackAndEmailCarryTheAlertAndItsResolution() throws {
        let receiver = try HTTPReceiver()
        let smtp = try SMTPPeer()
        let hog = try MemoryHog(stepMiB: 60)
        let exporter = try Exporter(
            ["--pid", "\(hog.pid)"],
            config: Self.config(
                """
                "webhook_url": "http://127.0.0.1:\(receiver.port)/hook", "webhook_headers": {"Authorization": "Bearer T0KEN-x"},
                "slack_webhook": "http://127.0.0.1:\(receiver.port)/services/SLACKSECRET",
                "email": "oncall@example.com, second@example.com",
                "smtp": {"host": "127.0.0.1", "port": \(smtp.port), "username": "alerts", "password": "s3cret",
                         "from": "mm@example.com", "insecure_skip_verify": true},
                "alert_levels": {"warning": {"channels": ["log", "webhook", "slack", "email"]}}
                """))
        defer { exporter.stop() }
        hog.grow()
        #expect(waitFor { receiver.records(path: "/hook").count == 1 && receiver.records(path: "/services/SLACKSECRET").count == 1 && smtp.messages.count == 1 })

        // Generic webhook: the SPEC §7 payload, field by field, with the configured header.
        let hook = try #require(receiver.records(path: "/hook").first)
        #expect((hook["headers"] as? [String: String])?["Authorization"] == "Bearer T0KEN-x")
        let body = try #require(hook["body"] as? [String: Any])
        // A receiver drops re-deliveries after a crash by this key (delivery is at least once).
        #expect(body["delivery_key"] as? String == "\(body["id"] as? String ?? "?")/firing")
        #expect((hook["headers"] as? [String: String])?["Idempotency-Key"] == body["delivery_key"] as? String)
        #expect(body["severity"] as? String == "warning")
        #expect(body["component"] as? String == "process_memory")
        #expect(body["status"] as? String == "firing")
        #expect(body["instance"] as? String == "test-host")
        #expect(body["threshold"] as? Double == 40)
        #expect((body["memory_usage"] as? Double ?? 0) >= 60)
        // value, threshold and unit: for process_memory the value is memory_usage, in MB.
        #expect(body["value"] as? Double == body["memory_usage"] as? Double)
        #expect(body["unit"] as? String == "MB")
        #expect((body["message"] as? String)?.hasPrefix("WARNING: Memory usage ") == true)
        #expect((body["message"] as? String)?.hasSuffix("MB exceeds warning threshold") == true)
        #expect((body["timestamp"] as? String)?.hasSuffix("Z") == true)
        let metadata = body["metadata"] as? [String: Any]
        #expect(metadata?["percent"] is Double && metadata?["available_mb"] is Double)
        #expect((body["target"] as? [String: Any])?["pid"] as? Int == Int(hog.pid))

        // Slack: an attachment coloured for warning, readable text.
        let slack = try #require(receiver.records(path: "/services/SLACKSECRET").first?["body"] as? [String: Any])
        let attachment = try #require((slack["attachments"] as? [[String: Any]])?.first)
        #expect(attachment["color"] as? String == "#ecb22e")
        #expect((attachment["title"] as? String)?.contains("WARNING · process_memory on test-host") == true)
        #expect((slack["text"] as? String)?.contains("exceeds warning threshold") == true)

        // Email: through STARTTLS and AUTH (the server requires both), to both recipients.
        let mail = try #require(smtp.messages.first)
        #expect(mail.hasPrefix("X-Envelope: mm@example.com -> oncall@example.com,second@example.com"))
        #expect(mail.contains("Subject: [WARNING] process_memory on test-host: WARNING: Memory usage"))
        #expect(mail.contains("From: memory-monitor <mm@example.com>"))
        #expect(mail.contains("Component:  process_memory"))

        // Resolution reaches every channel, marked as such.
        hog.shrink()
        #expect(waitFor { receiver.records(path: "/hook").count == 2 && receiver.records(path: "/services/SLACKSECRET").count == 2 && smtp.messages.count == 2 })
        let resolved = receiver.records(path: "/hook").last?["body"] as? [String: Any]
        #expect(resolved?["status"] as? String == "resolved")
        #expect((resolved?["message"] as? String)?.hasPrefix("RESOLVED: ") == true)
        let slackResolved = (receiver.records(path: "/services/SLACKSECRET").last?["body"] as? [String: Any])?["attachments"] as? [[String: Any]]
        #expect(slackResolved?.first?["color"] as? String == "#2eb67d")
        #expect(smtp.messages.last?.contains("Subject: [WARNING resolved] process_memory on test-host") == true)

        // The health API reports the alerts; no secret leaks into logs or the API.
        let summary = try RawHTTP.request(port: exporter.healthPort, path: "/health/alerts?hours=1").bodyText
        #expect(summary.contains("\"total_alerts\":1"))
        #expect(summary.contains("\"resolved_alerts\":1"))
        #expect(try RawHTTP.request(port: exporter.healthPort, path: "/health/alerts?hours=zero").status == 400)
        let metrics = try RawHTTP.request(port: exporter.metricsPort, path: "/metrics").bodyText
        #expect(metrics.contains("memory_alerts_sent_total{severity=\"warning\"} 1"))
        #expect(metrics.contains("memory_alert_deliveries_total{channel=\"email\",result=\"delivered\"} 2"))
        #expect(exporter.stop() == 0)
        for secret in ["T0KEN", "SLACKSECRET", "s3cret"] {
            #expect(!exporter.child.stderr.contains(secret), "\(secret) leaked into the log")
            #expect(!summary.contains(secret))
        }
    }

    /// A target that names itself `<!channel>` CR `.` CR `&` (its comm: any bytes but NUL): the
    /// webhook carries the name exactly (JSON-escaped), Slack gets it entity-escaped so no one is
    /// notified, and aiosmtpd receives one whole message with no bare CR or LF, so the `\r.\r`
    /// cannot end DATA early and smuggle a second message.
    @Test func hostileProcessNamesReachEachChannelEscaped() throws {
        let hostile = "<!channel>\r.\r&"
        let receiver = try HTTPReceiver()
        let smtp = try SMTPPeer()
        let hog = try MemoryHog(stepMiB: 60, name: hostile)
        let comm = try String(contentsOfFile: "/proc/\(hog.pid)/comm", encoding: .utf8)
        #expect(comm == hostile + "\n", "the hog could not take the hostile name")
        let exporter = try Exporter(
            ["--pid", "\(hog.pid)"],
            config: Self.config(
                """
                "webhook_url": "http://127.0.0.1:\(receiver.port)/hook",
                "slack_webhook": "http://127.0.0.1:\(receiver.port)/services/slack",
                "email": "oncall@example.com",
                "smtp": {"host": "127.0.0.1", "port": \(smtp.port), "username": "alerts", "password": "s3cret",
                         "from": "mm@example.com", "insecure_skip_verify": true},
                "alert_levels": {"warning": {"channels": ["webhook", "slack", "email"]}}
                """))
        defer { exporter.stop() }
        hog.grow()
        #expect(waitFor { receiver.records(path: "/hook").count == 1 && receiver.records(path: "/services/slack").count == 1 && smtp.messages.count == 1 })

        let hook = try #require(receiver.records(path: "/hook").first?["body"] as? [String: Any])
        #expect((hook["target"] as? [String: Any])?["name"] as? String == hostile)

        // Slack reads the text of every string in the payload: none may hold a control sequence.
        func strings(_ value: Any) -> [String] {
            if let s = value as? String { return [s] }
            if let d = value as? [String: Any] { return d.values.flatMap(strings) }
            if let a = value as? [Any] { return a.flatMap(strings) }
            return []
        }
        let slackTexts = strings(try #require(receiver.records(path: "/services/slack").first?["body"]))
        #expect(!slackTexts.contains { $0.contains("<!") }, "Slack would notify the whole channel: \(slackTexts)")
        #expect(slackTexts.contains { $0.contains("&lt;!channel&gt;") })

        // Give aiosmtpd time to take a smuggled second message, were there one.
        usleep(1_000_000)
        #expect(smtp.messages.count == 1, "a second message was smuggled: \(smtp.messages)")
        let mail = try #require(smtp.messages.first)
        let bytes = Array(mail.utf8)
        for (i, b) in bytes.enumerated() {
            if b == 13 { #expect(i + 1 < bytes.count && bytes[i + 1] == 10, "a bare CR at \(i) of \(mail)") }
            if b == 10 { #expect(i > 0 && bytes[i - 1] == 13, "a bare LF at \(i) of \(mail)") }
        }
        // The whole message arrived: the lines after the target's name are there.
        #expect(mail.contains("Target:"))
        #expect(mail.contains("(<!channel>"), "the name is not in the mail: \(mail)")
        #expect(mail.contains("Component:  process_memory"))
        let subject = mail.components(separatedBy: "\r\n").first { $0.hasPrefix("Subject:") } ?? ""
        #expect(subject.contains("WARNING"))
        #expect(exporter.stop() == 0)
    }

    @Test func alertmanagerShowsTheAlertThenItsResolution() throws {
        let amConfig = NSTemporaryDirectory() + "mm-am-\(UUID().uuidString).yml"
        try """
            route:
              receiver: blackhole
              group_wait: 1s
            receivers:
              - name: blackhole
            """.write(toFile: amConfig, atomically: true, encoding: .utf8)
        let alertmanager = try AlertmanagerServer(configPath: amConfig)
        defer { alertmanager.stop() }
        let hog = try MemoryHog(stepMiB: 60)
        let exporter = try Exporter(
            ["--pid", "\(hog.pid)"], config: Self.config(#""alertmanager_url": "http://127.0.0.1:\#(alertmanager.port)""#))
        defer { exporter.stop() }
        hog.grow()
        func memoryAlert() -> [String: Any]? {
            ((try? alertmanager.alerts()) ?? []).first { ($0["labels"] as? [String: String])?["alertname"] == "MemoryProcessWarning" }
        }
        #expect(waitFor { memoryAlert() != nil })
        let labels = memoryAlert()?["labels"] as? [String: String] ?? [:]
        #expect(labels["severity"] == "warning")
        #expect(labels["component"] == "process_memory")
        #expect(labels["instance"] == "test-host")
        #expect(labels["job"] == "flight-crawler-memory")
        #expect(labels["monitor"] == "memory-monitor")
        #expect((memoryAlert()?["annotations"] as? [String: String])?["summary"]?.hasPrefix("WARNING: Memory usage") == true)
        #expect((memoryAlert()?["status"] as? [String: Any])?["state"] as? String == "active")

        hog.shrink()
        // Resolved: Alertmanager no longer lists it among active alerts.
        #expect(waitFor { memoryAlert() == nil })
        #expect(exporter.stop() == 0)
    }

    @Test func receiverDownForThirtySecondsThenUpGetsEveryAlertOnce() throws {
        let receiver = try HTTPReceiver(port: TestEnvironment.freePort())
        let hog = try MemoryHog(stepMiB: 60)
        let exporter = try Exporter(["--pid", "\(hog.pid)"], config: Self.config(#""webhook_url": "http://127.0.0.1:\#(receiver.port)/hook""#))
        defer { exporter.stop() }
        receiver.stop()
        let downAt = Date()
        hog.grow()  // warning fires while the receiver is down
        #expect(waitFor { ((try? RawHTTP.request(port: exporter.metricsPort, path: "/metrics").bodyText) ?? "").contains("memory_alerts_sent_total{severity=\"warning\"} 1") })
        hog.shrink()  // and resolves
        #expect(waitFor { ((try? RawHTTP.request(port: exporter.healthPort, path: "/health").bodyText) ?? "").contains("\"active_alerts\":0") })
        usleep(useconds_t(max(0, 30 - Date().timeIntervalSince(downAt)) * 1_000_000))
        try receiver.restart()
        #expect(waitFor(30) { receiver.records(path: "/hook").count >= 2 })
        usleep(2_000_000)  // anything sent twice would arrive by now
        let bodies = receiver.records(path: "/hook").compactMap { $0["body"] as? [String: Any] }
        #expect(bodies.map { $0["status"] as? String } == ["firing", "resolved"])
        #expect(Set(bodies.compactMap { $0["id"] as? String }).count == 2)
        let metrics = try RawHTTP.request(port: exporter.metricsPort, path: "/metrics").bodyText
        #expect(metrics.contains("memory_alert_deliveries_total{channel=\"webhook\",result=\"delivered\"} 2"))
        #expect(!metrics.contains("memory_alerts_dropped_total{channel=\"webhook\""))
        #expect(exporter.stop() == 0)
    }

    @Test func aHangingReceiverDoesNotDelayChecks() throws {
        let receiver = try HTTPReceiver()
        try receiver.setMode("hang")
        let hog = try MemoryHog(stepMiB: 60)
        let exporter = try Exporter(["--pid", "\(hog.pid)"], config: Self.config(#""webhook_url": "http://127.0.0.1:\#(receiver.port)/hook""#))
        defer { exporter.stop() }
        hog.grow()
        func checks() -> Int {
            let text = (try? RawHTTP.request(port: exporter.metricsPort, path: "/metrics").bodyText) ?? ""
            return text.split(separator: "\n").first { $0.hasPrefix("memory_checks_total ") }.flatMap { Int($0.split(separator: " ")[1]) } ?? 0
        }
        #expect(waitFor { checks() > 0 && ((try? RawHTTP.request(port: exporter.metricsPort, path: "/metrics").bodyText) ?? "").contains("memory_alert_delivery_retries_total{channel=\"webhook\"}") })
        let before = checks()
        usleep(3_000_000)
        let after = checks()
        // 3 s at a 0.2 s interval is 15 checks; the stuck webhook must not hold them back.
        #expect(after - before >= 12, "only \(after - before) checks in 3 s")
        let health = try RawHTTP.request(port: exporter.healthPort, path: "/health")
        #expect(health.status == 200)
        #expect(exporter.stop() == 0)
    }

    @Test func anUndeliveredAlertIsDeliveredAfterARestartAndNotResent() throws {
        let receiver = try HTTPReceiver()
        try receiver.setMode("fail")
        let hog = try MemoryHog(stepMiB: 60)
        let stateDir = NSTemporaryDirectory() + "mm-state-\(UUID().uuidString)"
        let config = Self.config(#""webhook_url": "http://127.0.0.1:\#(receiver.port)/hook""#)
        hog.grow()
        let first = try Exporter(["--pid", "\(hog.pid)", "--state-dir", stateDir], config: config)
        #expect(waitFor { first.child.stderr.contains("alert delivery failed, will retry") })
        #expect(first.stop() == 0)
        #expect(first.child.stderr.contains("undelivered alerts left in the state directory"))
        #expect(receiver.records.isEmpty)

        try receiver.setMode("ok")
        let second = try Exporter(["--pid", "\(hog.pid)", "--state-dir", stateDir], config: config)
        #expect(waitFor { receiver.records(path: "/hook").count == 1 })
        #expect(second.child.stderr.contains("undelivered alerts recovered from the state directory count=1"))
        usleep(1_500_000)
        #expect(second.stop() == 0)

        // A third start: the alert was delivered and the level is still warning: nothing is sent again.
        let third = try Exporter(["--pid", "\(hog.pid)", "--state-dir", stateDir], config: config)
        usleep(2_000_000)
        #expect(receiver.records(path: "/hook").count == 1)
        let summary = try RawHTTP.request(port: third.healthPort, path: "/health/alerts").bodyText
        #expect(summary.contains("\"active_alerts\":1"))
        #expect(third.stop() == 0)
    }
}
