import Foundation
import TestSupport
import Testing

/// Secrets (inline and from files) never appear in the log, in --check-config's output, in the
/// health API or in /metrics, even while every delivery fails and is logged.
@Suite("Secrets stay secret", .serialized, .offCooperativePool)
struct SecretsIntegrationTests {
    @Test func noSecretInAnyOutput() throws {
        let directory = NSTemporaryDirectory() + "mm-secrets-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let closed = TestEnvironment.freePort()  // nothing listens: every delivery fails
        let secrets = [
            "webhook": "http://127.0.0.1:\(closed)/hooks/WEBHOOKSECRET1",
            "slack": "http://127.0.0.1:\(closed)/services/SLACKSECRET2",
            "password": "SMTPSECRET3",
            "token": "TOKENSECRET4",
            "header": "Bearer HEADERSECRET5",
        ]
        for (name, value) in secrets { try (value + "\n").write(toFile: "\(directory)/\(name)", atomically: true, encoding: .utf8) }
        let config = """
            {"monitoring": {"check_interval": 0.2},
             "thresholds": {"memory_warning_mb": 1, "memory_critical_mb": 2, "memory_emergency_mb": 100000},
             "alerting": {"webhook_url_file": "\(directory)/webhook", "slack_webhook_file": "\(directory)/slack",
                          "webhook_headers": {"X-Inline": "INLINESECRET6"},
                          "webhook_header_files": {"Authorization": "\(directory)/header"},
                          "email": "ops@example.org", "delivery_timeout_seconds": 1, "max_retry_interval_seconds": 1,
                          "smtp": {"host": "127.0.0.1", "port": \(closed), "username": "u", "password_file": "\(directory)/password"}},
             "security": {"action_token_file": "\(directory)/token"}}
            """
        let markers = ["WEBHOOKSECRET1", "SLACKSECRET2", "SMTPSECRET3", "TOKENSECRET4", "HEADERSECRET5", "INLINESECRET6"]
        let configPath = directory + "/config.json"
        try config.write(toFile: configPath, atomically: true, encoding: .utf8)
        let check = try TestEnvironment.run(TestEnvironment.binary, ["--config", configPath, "--check-config"])
        #expect(check.status == 0, "\(check.stderr)")

        let exporter = try Exporter([], config: config)
        defer { exporter.stop() }
        // Deliveries fail and are retried and logged; a POST with a wrong token is refused and logged.
        #expect(waitFor(20) { exporter.child.stderr.contains("delivery failed") || exporter.child.stderr.contains("retry") })
        _ = try RawHTTP.request(port: exporter.healthPort, method: "POST", path: "/health/actions/gc", headers: [("Authorization", "Bearer TOKENSECRET4x")])
        Thread.sleep(forTimeInterval: 1)
        var outputs = [check.stdout + check.stderr, exporter.child.stderr, exporter.child.stdout, try exporter.metrics().bodyText]
        for path in ["/health", "/health/memory", "/health/alerts?hours=1", "/health/actions?hours=1", "/health/metrics/history?hours=1", "/"] {
            outputs.append(try RawHTTP.request(port: exporter.healthPort, path: path).bodyText)
        }
        for marker in markers {
            for (index, output) in outputs.enumerated() {
                #expect(!output.contains(marker), "\(marker) leaked in output \(index)")
            }
        }
    }
}
