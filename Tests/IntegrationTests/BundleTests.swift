import Foundation
import TestSupport
import Testing

/// The observability bundle at the repository root, checked by the real tools.
@Suite("Observability bundle", .serialized, .offCooperativePool)
struct BundleTests {
    static let root = TestEnvironment.packageRoot

    func tool(_ path: String, _ arguments: [String]) throws -> (Int32, String) {
        let r = try TestEnvironment.run(path, arguments)
        return (r.status, r.stdout + r.stderr)
    }

    @Test func promtoolChecksConfigAndRules() throws {
        let (status, output) = try tool("/usr/bin/promtool", ["check", "config", Self.root + "/prometheus/prometheus.yml"])
        #expect(status == 0, "\(output)")
        #expect(output.contains("SUCCESS: 12 rules found"))
        #expect(output.contains("SUCCESS: 21 rules found"))
    }

    @Test func promtoolRuleUnitTestsPass() throws {
        let tests = try FileManager.default.contentsOfDirectory(atPath: Self.root + "/prometheus/tests").filter { $0.hasSuffix(".test.yml") }.sorted()
        #expect(tests.count == 4)
        let (status, output) = try tool("/usr/bin/promtool", ["test", "rules"] + tests.map { Self.root + "/prometheus/tests/" + $0 })
        #expect(status == 0, "\(output)")
        #expect(!output.contains("FAILED"))
    }

    @Test func everyAlertRuleHasATest() throws {
        let rules = try String(contentsOfFile: Self.root + "/prometheus/rules/memory-monitor.alerts.yml", encoding: .utf8)
        let names = rules.split(separator: "\n").compactMap { line -> String? in
            let t = line.trimmingCharacters(in: .whitespaces)
            return t.hasPrefix("- alert: ") ? String(t.dropFirst(9)) : nil
        }
        #expect(names.count == 21)
        var tested = ""
        for file in try FileManager.default.contentsOfDirectory(atPath: Self.root + "/prometheus/tests") {
            tested += try String(contentsOfFile: Self.root + "/prometheus/tests/" + file, encoding: .utf8)
        }
        for name in names {
            #expect(tested.contains("alertname: \(name)\n        exp_alerts:\n          - exp_labels"), "\(name) never tested firing")
            #expect(tested.contains("alertname: \(name)\n        exp_alerts: []"), "\(name) never tested quiet")
        }
    }

    @Test func amtoolChecksConfigAndRoutes() throws {
        let config = Self.root + "/alertmanager/alertmanager.yml"
        let (status, output) = try tool("/usr/bin/amtool", ["check-config", config])
        #expect(status == 0, "\(output)")
        let cases = try String(contentsOfFile: Self.root + "/alertmanager/tests/routes.txt", encoding: .utf8)
            .split(separator: "\n").filter { !$0.hasPrefix("#") && $0.contains("|") }
        #expect(cases.count >= 7)
        for line in cases {
            let parts = line.split(separator: "|").map { $0.trimmingCharacters(in: .whitespaces) }
            let labels = parts[1].split(separator: " ").map(String.init)
            let (s, out) = try tool("/usr/bin/amtool", ["config", "routes", "test", "--config.file=\(config)", "--verify.receivers=\(parts[0])"] + labels)
            #expect(s == 0, "\(line): \(out)")
        }
        // The check can fail: a wrong expectation is reported.
        let (wrong, _) = try tool("/usr/bin/amtool", ["config", "routes", "test", "--config.file=\(config)", "--verify.receivers=critical-slack", "severity=warning"])
        #expect(wrong != 0)
    }

    @Test func composeFileIsValid() throws {
        let compose = Self.root + "/.venv/bin/docker-compose"
        #expect(FileManager.default.isExecutableFile(atPath: compose), "run scripts/install-test-deps.sh")
        let (status, output) = try tool(compose, ["-f", Self.root + "/docker-compose.yml", "config", "-q"])
        #expect(status == 0, "\(output)")
        let (images, _) = try tool(compose, ["-f", Self.root + "/docker-compose.yml", "config", "--images"])
        #expect(images == 0)
        let text = try String(contentsOfFile: Self.root + "/docker-compose.yml", encoding: .utf8)
        for image in ["prom/prometheus:v", "prom/alertmanager:v", "grafana/grafana:1"] { #expect(text.contains(image), "unpinned \(image)") }
    }

    /// examples/python-service: its compose file parses, and its configuration is valid with no
    /// unknown keys for the sidecar it describes.
    @Test func pythonServiceExampleIsValid() throws {
        let compose = Self.root + "/.venv/bin/docker-compose"
        let file = Self.root + "/examples/python-service/docker-compose.yml"
        let (status, output) = try tool(compose, ["-f", file, "config", "-q"])
        #expect(status == 0, "\(output)")
        let text = try String(contentsOfFile: file, encoding: .utf8)
        #expect(text.contains("pid: \"service:app\""))
        let (checked, log) = try tool(
            TestEnvironment.binary,
            ["--check-config", "--config", Self.root + "/examples/python-service/memory-monitor.json", "--process-match", "python3 /app/app.py"])
        #expect(checked == 0, "\(log)")
        #expect(!log.contains("unknown configuration key"), "\(log)")
    }

    @Test func dashboardStructure() throws {
        let dashboard = try Dashboard.load()
        #expect(dashboard.json["id"] is NSNull)
        #expect(dashboard.json["uid"] as? String == "memory-monitor")
        let inputs = dashboard.json["__inputs"] as? [[String: Any]] ?? []
        #expect(inputs.first?["name"] as? String == "DS_PROMETHEUS")
        #expect((dashboard.json["__requires"] as? [Any])?.isEmpty == false)
        #expect(Set(dashboard.variables) == ["datasource", "job", "instance"])

        let ids = dashboard.panels.compactMap { $0["id"] as? Int }
        #expect(ids.count == dashboard.panels.count && Set(ids).count == ids.count, "panel ids must be unique")
        for panel in dashboard.panels {
            let title = panel["title"] as? String ?? "?"
            let grid = panel["gridPos"] as? [String: Int] ?? [:]
            #expect((grid["x"] ?? -1) >= 0 && (grid["w"] ?? 0) > 0 && grid["x"]! + grid["w"]! <= 24, "\(title): outside 24 columns")
            #expect((grid["h"] ?? 0) > 0, "\(title): no height")
            let ds = panel["datasource"] as? [String: String]
            #expect(ds?["uid"] == "${datasource}", "\(title): not on ${datasource}")
            let targets = panel["targets"] as? [[String: Any]] ?? []
            #expect(!targets.isEmpty, "\(title): no targets")
            for target in targets {
                #expect((target["refId"] as? String)?.isEmpty == false, "\(title): target without refId")
                let expr = target["expr"] as? String ?? ""
                #expect(!expr.isEmpty, "\(title): target without expr")
                for variable in Dashboard.variableReferences(in: expr) {
                    #expect(dashboard.variables.contains(variable) || Dashboard.builtIns.contains(variable), "\(title): undefined $\(variable)")
                }
            }
        }
        // Panels do not overlap.
        var cells = Set<Int>()
        for panel in dashboard.panels {
            let g = panel["gridPos"] as! [String: Int]
            for y in g["y"]!..<(g["y"]! + g["h"]!) {
                for x in g["x"]!..<(g["x"]! + g["w"]!) { #expect(cells.insert(y * 24 + x).inserted, "overlap at \(x),\(y)") }
            }
        }
        let titles = Set(dashboard.panels.compactMap { $0["title"] as? String })
        for spec in ["Memory Usage (MB)", "Memory Usage Trend", "Memory Alerts (total)", "Memory Percentage", "Swap Usage",
                     "Garbage Collection (clean-up statistics)", "Alert Timeline", "Check Response Time"] {
            #expect(titles.contains(spec), "SPEC §6 panel \(spec) missing")
        }
    }

    /// Prometheus loads prometheus/ (target and Alertmanager pointed at this test's ports, `for`
    /// shortened), scrapes the real exporter started on low thresholds; every recording rule and
    /// every dashboard query returns data; the warning alert fires and reaches a real Alertmanager
    /// loaded with alertmanager/alertmanager.yml.
    @Test func endToEndRulesDashboardAndAlertmanager() throws {
        let exporter = try Exporter(
            ["--check-interval", "0.5"],
            config: #"{"thresholds": {"memory_warning_mb": 1, "memory_critical_mb": 100000, "memory_emergency_mb": 200000}}"#)
        let alertmanager = try AlertmanagerServer(configPath: Self.root + "/alertmanager/alertmanager.yml")
        defer {
            alertmanager.stop()
            exporter.stop()
        }
        let read = { (path: String) in try String(contentsOfFile: Self.root + "/prometheus/" + path, encoding: .utf8) }
        let config = try read("prometheus.yml")
            .replacingOccurrences(of: "memory-monitor:9091", with: "127.0.0.1:\(exporter.metricsPort)")
            .replacingOccurrences(of: "alertmanager:9093", with: "127.0.0.1:\(alertmanager.port)")
            .replacingOccurrences(of: "15s", with: "1s")
            .replacingOccurrences(of: "scrape_timeout: 5s", with: "scrape_timeout: 1s")
        let fast = { (text: String) in
            text.replacingOccurrences(of: #"for: \d+m"#, with: "for: 1s", options: .regularExpression)
                .replacingOccurrences(of: "interval: 30s", with: "interval: 1s")
        }
        let prometheus = try PrometheusServer(
            config: config,
            files: [
                "rules/memory-monitor.recording.yml": fast(try read("rules/memory-monitor.recording.yml")),
                "rules/memory-monitor.alerts.yml": fast(try read("rules/memory-monitor.alerts.yml")),
            ])
        defer { prometheus.stop() }

        #expect(prometheus.waitForData(#"count_over_time(memory_checks_total{job="flight-crawler-memory"}[1m]) >= 5"#))

        // Every recording rule.
        let recording = try read("rules/memory-monitor.recording.yml")
        let records = recording.split(separator: "\n").compactMap { line -> String? in
            let t = line.trimmingCharacters(in: .whitespaces)
            return t.hasPrefix("- record: ") ? String(t.dropFirst(10)) : nil
        }
        #expect(records.count == 12)
        for record in records {
            #expect(prometheus.waitForData(record, seconds: 20), "recording rule \(record) has no data")
        }

        // Every dashboard query, variables filled in.
        let dashboard = try Dashboard.load()
        let instance = "127.0.0.1:\(exporter.metricsPort)"
        let jobs = try prometheus.api("/api/v1/label/job/values?match%5B%5D=memory_monitor_build_info")["data"] as? [String]
        #expect(jobs == ["flight-crawler-memory"])
        for (title, expr) in dashboard.queries {
            let filled = expr.replacingOccurrences(of: "$job", with: "flight-crawler-memory")
                .replacingOccurrences(of: "$instance", with: instance)
                .replacingOccurrences(of: "$__rate_interval", with: "10s")
                .replacingOccurrences(of: "$__range", with: "5m")
            #expect(prometheus.waitForData(filled, seconds: 20), "\(title): no data for \(filled)")
        }

        // The warning alert fires in Prometheus and reaches Alertmanager.
        #expect(prometheus.waitForData(#"ALERTS{alertname="MemoryProcessWarning", alertstate="firing"}"#))
        #expect(try prometheus.query(#"ALERTS{alertname="MemoryProcessCritical"}"#).count == 0)
        let received = alertmanager.child.wait(seconds: 30) {
            ((try? alertmanager.alerts()) ?? []).contains { ($0["labels"] as? [String: String])?["alertname"] == "MemoryProcessWarning" }
        }
        #expect(received)
        let alert = try alertmanager.alerts().first { ($0["labels"] as? [String: String])?["alertname"] == "MemoryProcessWarning" }
        let labels = alert?["labels"] as? [String: String] ?? [:]
        #expect(labels["severity"] == "warning")
        #expect(labels["component"] == "process_memory")
        #expect(labels["instance"] == instance)
        let receivers = (alert?["receivers"] as? [[String: Any]])?.compactMap { $0["name"] as? String }
        #expect(receivers == ["warning-webhook"])
    }
}

/// grafana/dashboards/memory-monitor.json, read for checks.
struct Dashboard {
    let json: [String: Any]
    static let builtIns: Set<String> = ["__rate_interval", "__range", "__interval"]

    static func load() throws -> Dashboard {
        let data = try Data(contentsOf: URL(fileURLWithPath: TestEnvironment.packageRoot + "/grafana/dashboards/memory-monitor.json"))
        return Dashboard(json: try JSONSerialization.jsonObject(with: data) as? [String: Any] ?? [:])
    }

    var panels: [[String: Any]] { json["panels"] as? [[String: Any]] ?? [] }

    var variables: [String] {
        ((json["templating"] as? [String: Any])?["list"] as? [[String: Any]] ?? []).compactMap { $0["name"] as? String }
    }

    /// (panel title, expr) for every target.
    var queries: [(String, String)] {
        panels.flatMap { panel in
            (panel["targets"] as? [[String: Any]] ?? []).compactMap { t in (t["expr"] as? String).map { (panel["title"] as? String ?? "?", $0) } }
        }
    }

    static func variableReferences(in expr: String) -> [String] {
        let regex = try! NSRegularExpression(pattern: #"\$\{?([A-Za-z_][A-Za-z0-9_]*)"#)
        return regex.matches(in: expr, range: NSRange(expr.startIndex..., in: expr)).compactMap {
            Range($0.range(at: 1), in: expr).map { String(expr[$0]) }
        }
    }
}
