#if canImport(Glibc)
import Glibc
#endif
import Foundation
import TestSupport
import Testing
@testable import MemoryMonitor

@Suite("Configuration", .offCooperativePool)
struct ConfigurationTests {
    /// SPEC §3's example file, verbatim.
    static let specExample = """
        {
          "monitoring": {"check_interval": 30, "enable_tracemalloc": true, "prometheus_port": 9091,
                          "history_size": 2000,
                          "leak_detection": {"enabled": true, "threshold_growth_rate": 0.1, "monitoring_window": 300}},
          "thresholds": {"memory_warning_mb": 1024, "memory_critical_mb": 2048, "memory_emergency_mb": 4096,
                         "memory_percent_warning": 70, "memory_percent_critical": 85, "memory_percent_emergency": 95},
          "alerting": {"webhook_url": "https://your-webhook.com/alerts",
                       "slack_webhook": "https://hooks.slack.com/your-webhook",
                       "rate_limit_seconds": 300,
                       "alert_levels": {"critical": {"channels": ["log", "slack"]},
                                        "emergency": {"channels": ["log", "slack", "email"]}}},
          "auto_response": {"enabled": true,
                            "critical_actions": {"force_gc": true, "clear_caches": true, "throttle_operations": true},
                            "emergency_actions": {"force_gc": true, "multiple_gc_cycles": 3, "clear_all_caches": true,
                                                  "emergency_throttle": true, "send_immediate_alert": true}},
          "experimental": {"predictive_alerting": true, "prediction_window": 600, "trend_threshold": 0.05},
          "performance": {"monitoring_overhead_limit_percent": 5, "max_monitoring_time_seconds": 2,
                          "async_processing": true, "batch_processing": true}
        }
        """

    func load(_ json: String, env: [String: String] = [:]) throws -> (MonitorConfiguration, [String]) {
        var loader = ConfigurationLoader()
        try loader.apply(json: json, source: "test.json")
        loader.apply(environment: env)
        return (try loader.validated(), loader.unknownKeys)
    }

    func problems(_ json: String, env: [String: String] = [:]) -> [String] {
        do {
            _ = try load(json, env: env)
            return []
        } catch let error as ConfigurationError {
            return error.fileError.map { [$0] } ?? error.problems.map(\.description)
        } catch {
            return ["\(error)"]
        }
    }

    /// Every numeric range docs/configuration.md gives for a single key (`A–B`, or `> 0, ≤ B`) is
    /// the one the loader enforces: both ends accepted, just outside each end refused with the
    /// key named. (The docs gave no upper bound for two keys the loader bounded: issue 25.)
    @Test func theDocumentedRangesAreTheEnforcedOnes() throws {
        let docs = try String(contentsOfFile: TestEnvironment.packageRoot + "/docs/configuration.md", encoding: .utf8)
        var checked = 0
        for line in docs.split(separator: "\n") where line.hasPrefix("| `") {
            let cells = line.split(separator: "|", omittingEmptySubsequences: false).map { $0.trimmingCharacters(in: .whitespaces) }
            guard cells.count > 3, let key = cells[1].split(separator: "`").first.map(String.init),
                  !key.contains("*"), !key.contains("{"), !key.contains(" "), key.contains("."), !key.hasPrefix("monitoring.target."),
                  !cells[1].contains("/")
            else { continue }
            let range = cells[3]
            var low: Double?, high: Double?, lowExclusive = false
            if range == "> 0" {
                // No upper bound documented: a large value must be accepted.
                let large = key.split(separator: ".").reversed().reduce("1000000000") { "{\"\($1)\": \($0)}" }
                #expect(problems(large).isEmpty, "\(key): the docs give no upper bound, yet 1e9 is refused: \(problems(large))")
                checked += 1
                continue
            }
            if let m = range.wholeMatch(of: /(-?[0-9.]+)–([0-9.]+)/) {
                low = Double(m.1); high = Double(m.2)
            } else if let m = range.wholeMatch(of: /> 0, ≤ ([0-9.]+)/) {
                low = 0; high = Double(m.1); lowExclusive = true
            }
            guard let low, let high else { continue }
            let integral = low.rounded() == low && high.rounded() == high && !range.contains(".") && !lowExclusive
            func json(_ value: Double) -> String {
                let literal = integral ? String(Int(value)) : String(value)
                return key.split(separator: ".").reversed().reduce(literal) { "{\"\($1)\": \($0)}" }
            }
            let step = integral ? 1 : (high - low) / 1000
            let acceptedLow = lowExclusive ? low + step : low
            #expect(problems(json(acceptedLow)).isEmpty, "\(key) = \(acceptedLow) is in the documented range \(range): \(problems(json(acceptedLow)))")
            #expect(problems(json(high)).isEmpty, "\(key) = \(high) is in the documented range \(range): \(problems(json(high)))")
            let above = problems(json(high + step))
            #expect(above.contains { $0.contains(key) }, "\(key) = \(high + step) is above the documented range \(range), yet accepted")
            if low > 0 || lowExclusive {
                let below = problems(json(lowExclusive ? low : low - step))
                #expect(below.contains { $0.contains(key) }, "\(key) below the documented range \(range), yet accepted")
            }
            checked += 1
        }
        print("documented ranges checked against the loader: \(checked)")
        #expect(checked >= 25, "only \(checked) ranges found in docs/configuration.md")
    }

    @Test func specExampleLoadsWithoutWarnings() throws {
        let (config, unknown) = try load(Self.specExample)
        #expect(unknown.isEmpty)
        #expect(config.monitoring.checkInterval == 30)
        #expect(config.monitoring.historySize == 2000)
        #expect(config.thresholds.memoryCriticalMB == 2048)
        #expect(config.alerting.webhookURL == "https://your-webhook.com/alerts")
        #expect(config.alerting.channels["emergency"] == ["log", "slack", "email"])
        #expect(config.alerting.channels["warning"] == ["log", "webhook", "alertmanager"])
    }

    @Test func emptyObjectGivesSpecDefaults() throws {
        let (config, _) = try load("{}")
        #expect(config == MonitorConfiguration())
        #expect(config.monitoring.prometheusPort == 9091 && config.monitoring.healthPort == 8080)
        #expect(config.thresholds.memoryPercentEmergency == 95)
        #expect(config.alerting.rateLimitSeconds == 300)
    }

    @Test(arguments: [
        (#"{"monitoring": {"check_interval": -1}}"#, "monitoring.check_interval: -1 is not allowed; expected a number >= 0.1 and <= 86400"),
        (#"{"monitoring": {"check_interval": "30"}}"#, "monitoring.check_interval: \"30\" is not allowed; expected a number >= 0.1 and <= 86400"),
        (#"{"monitoring": {"prometheus_port": 70000}}"#, "monitoring.prometheus_port: 70000 is not allowed; expected a port number from 1 to 65535"),
        (#"{"monitoring": {"history_size": 2.5}}"#, "monitoring.history_size: 2.5 is not allowed; expected a whole number from 1 to 100000"),
        (#"{"monitoring": {"target": {"pid": 1, "process_name": "x"}}}"#, "monitoring.target: 2 targets is not allowed; expected at most one of pid, pidfile, process_name, match"),
        (#"{"monitoring": []}"#, "monitoring: an array is not allowed; expected an object"),
        (#"{"thresholds": {"memory_percent_critical": 120}}"#, "thresholds.memory_percent_critical: 120 is not allowed; expected a number > 0 and <= 100"),
        (#"{"alerting": {"alert_levels": {"critical": {"channels": ["log", "pager"]}}}}"#,
         "alerting.alert_levels.critical.channels: \"pager\" is not allowed; expected an array of channel names from: log, webhook, slack, email, alertmanager"),
        (#"{"alerting": {"webhook_url": "ftp://x"}}"#, "alerting.webhook_url: a string is not allowed; expected an http:// or https:// URL"),
        (#"{"logging": {"level": "loud"}}"#, "logging.level: \"loud\" is not allowed; expected one of trace, debug, info, notice, warning, error, critical"),
        (#"{"enable": true, "performance": {"max_monitoring_time_seconds": 0}}"#, "performance.max_monitoring_time_seconds: 0 is not allowed; expected a number > 0 and <= 3600"),
    ])
    func badValuesNameKeyValueAndAllowed(_ json: String, _ expected: String) {
        #expect(problems(json) == [expected])
    }

    /// The issue's full auto_response example: every key is read, none is unknown.
    @Test func autoResponseKeysAreRead() throws {
        let (config, unknown) = try load(
            """
            {"auto_response": {"enabled": true, "dry_run": true, "cooldown_seconds": 30, "settle_seconds": 2, "action_timeout_seconds": 4,
              "warning_actions": {"force_gc": true, "signal": "SIGUSR1"},
              "critical_actions": {"force_gc": true, "clear_caches": true, "throttle_operations": true,
                                   "http_hook": "http://127.0.0.1:8000/admin/memory"},
              "emergency_actions": {"force_gc": true, "multiple_gc_cycles": 5, "clear_all_caches": true, "emergency_throttle": true,
                                    "send_immediate_alert": false, "stop_non_essential": false, "prepare_restart": true,
                                    "command": ["/usr/local/bin/dump-and-shed", "--fast"],
                                    "restart": {"signal": "SIGINT", "max_per_hour": 2, "window_seconds": 600}},
              "admission_gate": {"limit": 32, "critical_limit": 8, "emergency_limit": 2, "max_waiting": 100}},
             "security": {"action_token": "s3cret"}}
            """)
        #expect(unknown.isEmpty)
        let a = config.autoResponse
        #expect(a.dryRun && a.cooldownSeconds == 30 && a.settleSeconds == 2 && a.actionTimeoutSeconds == 4)
        #expect(a.warning.signal?.name == "SIGUSR1")
        #expect(a.critical.httpHook == "http://127.0.0.1:8000/admin/memory" && a.critical.throttle)
        #expect(a.emergency.gcCycles == 5 && !a.emergency.stopNonEssential && a.emergency.prepareRestart)
        #expect(a.emergency.command == ["/usr/local/bin/dump-and-shed", "--fast"])
        #expect(a.emergency.restart == .init(signal: NamedSignal.named("INT", in: NamedSignal.restartSignals)!, maxPerHour: 2, windowSeconds: 600))
        #expect(a.gate == .init(limit: 32, criticalLimit: 8, emergencyLimit: 2, maxWaiting: 100))
        #expect(!config.alerting.emergencyBypassesRateLimit)
        #expect(config.security.actionToken == "s3cret")
        #expect(try load("{}", env: ["MEMORY_ACTION_TOKEN": "from-env"]).0.security.actionToken == "from-env")
        #expect(try load(#"{"auto_response": {"critical_actions": {"restart": true}}}"#).0.autoResponse.critical.restart == .init())
    }

    @Test(arguments: [
        (#"{"auto_response": {"critical_actions": {"signal": "SIGKILL"}}}"#, "auto_response.critical_actions.signal: \"SIGKILL\""),
        (#"{"auto_response": {"warning_actions": {"command": ["rm", "-rf"]}}}"#, "auto_response.warning_actions.command: \"rm\""),
        (#"{"auto_response": {"warning_actions": {"command": "/bin/true"}}}"#, "auto_response.warning_actions.command"),
        (#"{"auto_response": {"emergency_actions": {"restart": {"max_per_hour": 0}}}}"#, "auto_response.emergency_actions.restart.max_per_hour"),
        (#"{"auto_response": {"emergency_actions": {"restart": {"signal": "SIGSTOP"}}}}"#, "auto_response.emergency_actions.restart.signal"),
        (#"{"auto_response": {"critical_actions": {"http_hook": "ftp://x"}}}"#, "auto_response.critical_actions.http_hook"),
        (#"{"auto_response": {"cooldown_seconds": -1}}"#, "auto_response.cooldown_seconds"),
        (#"{"auto_response": {"admission_gate": {"limit": 4, "critical_limit": 8}}}"#, "auto_response.admission_gate.emergency_limit, critical_limit, limit"),
        (#"{"security": {"action_token": ""}}"#, "security.action_token"),
    ])
    func badAutoResponseKeysNameThePath(_ json: String, _ expected: String) {
        let found = problems(json)
        #expect(found.contains { $0.contains(expected) }, "\(found)")
    }

    /// "Bearer T\r\n" is one Swift Character at the end: checked as bytes, it is refused, and the
    /// value is never echoed.
    @Test(arguments: ["Bearer T\r\n", "Bearer\u{0}x", " padded", "a\u{7F}b", "line\nbreak"])
    func headerValuesAreCheckedAsBytes(_ value: String) {
        var escaped = ""
        for scalar in value.unicodeScalars {
            escaped += scalar.value < 0x20 || scalar.value == 0x7F ? "\\u" + String(repeating: "0", count: 4 - String(scalar.value, radix: 16).count) + String(scalar.value, radix: 16) : String(scalar)
        }
        let found = problems(#"{"alerting": {"webhook_headers": {"Authorization": ""# + escaped + "\"}}}")
        #expect(found.contains { $0.hasPrefix("alerting.webhook_headers.Authorization: a string is not allowed") }, "\(found)")
        #expect(!found.joined().contains("Bearer"))
    }

    @Test func headerNamesAreTokens() throws {
        #expect(problems(#"{"alerting": {"webhook_headers": {"X Token": "a"}}}"#).contains { $0.hasPrefix("alerting.webhook_headers.X Token") })
        #expect(try load(#"{"alerting": {"webhook_headers": {"X-Api-Key": "abc def", "Authorization": "Bearer é"}}}"#).0.alerting.webhookHeaders.count == 2)
    }

    func secretFile(_ content: String) -> String {
        let path = "/tmp/mm-secret-\(AlertEvaluator.newID())"
        let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        FileSystem.writeAll(fd, content)
        close(fd)
        return path
    }

    /// Secrets from files, as Kubernetes and Docker deliver them: a trailing newline is trimmed;
    /// a problem names the key and the path, never the content.
    @Test func secretsComeFromFiles() throws {
        let webhook = secretFile("https://hooks.example/T0/B0/s3cr3tpath\n")
        let slack = secretFile("https://hooks.slack.com/services/T/B/slacksecret\r\n")
        let password = secretFile("smtp-pass-123\n")
        let token = secretFile("tok-456\n\n")
        let header = secretFile("Bearer hdr-789\n")
        let (config, unknown) = try load(
            """
            {"alerting": {"webhook_url_file": "\(webhook)", "slack_webhook_file": "\(slack)",
                          "webhook_header_files": {"Authorization": "\(header)"},
                          "smtp": {"host": "127.0.0.1", "password_file": "\(password)"}},
             "security": {"action_token_file": "\(token)"}}
            """)
        #expect(unknown.isEmpty)
        #expect(config.alerting.webhookURL == "https://hooks.example/T0/B0/s3cr3tpath")
        #expect(config.alerting.slackWebhook == "https://hooks.slack.com/services/T/B/slacksecret")
        #expect(config.alerting.webhookHeaders["Authorization"] == "Bearer hdr-789")
        #expect(config.alerting.smtp.password == "smtp-pass-123")
        #expect(config.security.actionToken == "tok-456")

        let notURL = secretFile("hunter2-not-a-url\n")
        let found = problems(
            """
            {"alerting": {"webhook_url_file": "\(notURL)", "slack_webhook": "https://a.example/x", "slack_webhook_file": "\(slack)",
                          "webhook_header_files": {"X-Key": "/nonexistent/key"}}}
            """)
        #expect(found.contains { $0.hasPrefix("alerting.webhook_url_file: \"\(notURL)\" is not allowed; expected a file holding an http") }, "\(found)")
        #expect(found.contains { $0.hasPrefix("alerting.slack_webhook_file: set is not allowed; expected either alerting.slack_webhook or") })
        #expect(found.contains { $0.hasPrefix("alerting.webhook_header_files.X-Key: \"/nonexistent/key\" is not allowed; expected a readable file") })
        #expect(!found.joined().contains("hunter2") && !found.joined().contains("slacksecret"))
    }

    @Test func alertLabelsAndAlertmanagerCluster() throws {
        let (config, _) = try load(
            #"{"alerting": {"job": "crawler", "external_labels": {"cluster": "eu-1"}, "alertmanager_urls": ["http://am-1:9093", "http://am-2:9093"]}}"#)
        #expect(config.alerting.job == "crawler")
        #expect(config.alerting.externalLabels == ["cluster": "eu-1"])
        #expect(config.alerting.alertmanagers == ["http://am-1:9093", "http://am-2:9093"])
        #expect(MonitorConfiguration().alerting.job == "flight-crawler-memory")
        let found = problems(#"{"alerting": {"external_labels": {"job": "x", "bad-name": "y"}, "alertmanager_urls": ["ftp://x"]}}"#)
        #expect(found.contains { $0.hasPrefix("alerting.external_labels.job: set is not allowed") }, "\(found)")
        #expect(found.contains { $0.hasPrefix("alerting.external_labels.bad-name: a label name is not allowed") })
        #expect(found.contains { $0.hasPrefix("alerting.alertmanager_urls: a string is not allowed") })
    }

    @Test func unknownActionKeysAreNamed() throws {
        let (_, unknown) = try load(#"{"auto_response": {"critical_actions": {"force_gcc": true}, "emergency_actions": {"restart": {"sig": "x"}}}}"#)
        #expect(unknown == ["auto_response.critical_actions.force_gcc", "auto_response.emergency_actions.restart.sig"])
    }

    @Test func thresholdsMustIncrease() {
        let found = problems(#"{"thresholds": {"memory_warning_mb": 3000}}"#)
        #expect(found == [
            "thresholds.memory_warning_mb, memory_critical_mb, memory_emergency_mb: 3000, 2048, 4096 is not allowed; expected warning < critical < emergency"
        ])
    }

    @Test func everyProblemIsReportedAtOnce() {
        #expect(problems(#"{"monitoring": {"check_interval": 0, "health_port": 0}, "thresholds": {"swap_percent_warning": "x"}}"#).count == 3)
    }

    @Test func invalidJSONSaysWhere() {
        #expect(problems("{\n  \"monitoring\": {\"check_interval\": 30,}\n}") == [
            "test.json: invalid JSON at line 2, column 39: expected a string key"
        ])
    }

    @Test func unknownKeysAreWarningsWithPaths() throws {
        let (_, unknown) = try load(#"{"monitoring": {"check_intervall": 5, "leak_detection": {"x": 1}}, "extra": {}}"#)
        #expect(Set(unknown) == ["monitoring.check_intervall", "monitoring.leak_detection.x", "extra"])
    }

    @Test func environmentOverridesFile() throws {
        let env = ["MEMORY_HEALTH_PORT": "8181", "PROMETHEUS_PORT": "9191", "MONITORING_LOG_LEVEL": "DEBUG", "ALERT_EMAIL": "ops@example.com"]
        let (config, _) = try load(#"{"monitoring": {"prometheus_port": 9999}}"#, env: env)
        #expect(config.monitoring.healthPort == 8181)
        #expect(config.monitoring.prometheusPort == 9191)
        #expect(config.logging.level == "debug")
        #expect(config.alerting.email == "ops@example.com")
    }

    @Test func badEnvironmentIsNamed() {
        #expect(problems("{}", env: ["PROMETHEUS_PORT": "http"]) == [
            "PROMETHEUS_PORT: \"http\" is not allowed; expected a port number from 1 to 65535"
        ])
    }

    @Test func secretsAreNotEchoed() {
        let found = problems(#"{"alerting": {"slack_webhook": "hooks.slack.com/services/SECRET"}}"#)
        #expect(found.count == 1)
        #expect(!found[0].contains("SECRET"))
    }
}
