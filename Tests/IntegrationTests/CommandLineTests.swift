import Foundation
import TestSupport
import Testing

/// The executable as a user meets it: flags, configuration errors, ports, signals.
@Suite("Command line", .serialized, .offCooperativePool)
struct CommandLineTests {
    func run(_ arguments: [String], environment: [String: String]? = nil) throws -> (Int32, String) {
        let child = try ChildProcess(TestEnvironment.binary, arguments, environment: environment)
        let status = child.waitForExit(seconds: 20) ?? child.stop()
        return (status, child.stderr + child.stdout)
    }

    func writeConfig(_ text: String) throws -> String {
        let path = NSTemporaryDirectory() + "mm-config-\(UUID().uuidString).json"
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    @Test func helpIsTrue() throws {
        let (status, output) = try run(["--help"])
        #expect(status == 0)
        for flag in ["--config", "--health-port", "--prometheus-port", "--log-level", "--pid", "--pidfile", "--process-name",
                     "--check-interval", "--listen-address", "--check-config", "--log-file", "--state-dir", "--process-match", "--cgroup"] {
            #expect(output.contains(flag), "--help lacks \(flag)")
        }
    }

    @Test func invalidConfigExits2BeforeBinding() throws {
        let path = try writeConfig(#"{"monitoring": {"check_interval": 0}, "thresholds": {"memory_warning_mb": 5000}}"#)
        let (status, output) = try run(["--config", path, "--health-port", "0", "--prometheus-port", "0"])
        #expect(status == 2)
        #expect(output.contains("monitoring.check_interval: 0 is not allowed; expected a number >= 0.1 and <= 86400"))
        #expect(output.contains("warning < critical < emergency"))
        #expect(!output.contains("listening"))
    }

    /// Found by probing: each bad input is a clear message and exit 2.
    @Test(arguments: [
        (["--health-port", "-1"], "--health-port: \"-1\" is not allowed; expected a port number from 0 to 65535"),
        (["--check-interval", "0.0000001"], "--check-interval: 1e-07 is not allowed; expected a number >= 0.1 and <= 86400"),
        (["--check-interval", "soon"], "--check-interval: \"soon\" is not allowed"),
        (["--pid", "-5"], "--pid: \"-5\" is not allowed"),
        (["--listen-address", "no-such-host.invalid"], "monitoring.listen_address (--listen-address): \"no-such-host.invalid\" is not an IP address and does not resolve"),
        (["--state-dir", "/etc/hostname"], "alerting.state_dir (--state-dir): /etc/hostname exists and is not a directory"),
        (["--log-file", "/tmp"], "logging.file (--log-file): /tmp is a directory"),
    ])
    func badFlagsExit2WithAMessage(_ arguments: [String], _ expected: String) throws {
        let (status, output) = try run(arguments + ["--check-config"])
        #expect(status == 2, "\(output)")
        #expect(output.contains(expected), "\(output)")
    }

    /// --health-probe (the image's HEALTHCHECK): 0 against a running monitor on the port from
    /// MEMORY_HEALTH_PORT, 1 where nothing listens.
    @Test func healthProbeFollowsTheConfiguredPort() throws {
        let port = TestEnvironment.freePort()
        let exporter = try Exporter(["--health-port", "\(port)"])
        defer { exporter.stop() }
        let ok = try TestEnvironment.run(TestEnvironment.binary, ["--health-probe", "--listen-address", "127.0.0.1"], environment: ["MEMORY_HEALTH_PORT": "\(port)"])
        #expect(ok.status == 0, "\(ok.stdout)\(ok.stderr)")
        #expect(ok.stdout.contains("HTTP/1.1 200"))
        let closed = TestEnvironment.freePort()
        let down = try TestEnvironment.run(TestEnvironment.binary, ["--health-probe"], environment: ["MEMORY_HEALTH_PORT": "\(closed)"])
        #expect(down.status == 1)
        #expect(down.stdout.contains("nothing listens on 127.0.0.1:\(closed)"))
    }

    /// A bare --health-probe (the image's HEALTHCHECK, exec'd beside the monitor in its pid
    /// namespace) probes the port the running monitor took from its --config file, given
    /// relative to its working directory, and from its environment; the probe itself runs
    /// elsewhere with none of them. Run in a new pid namespace, as in a container.
    @Test func aBareHealthProbeFindsThePortOfTheMonitorBesideIt() throws {
        let directory = NSTemporaryDirectory() + "mm-probe-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let health = TestEnvironment.freePort(), metrics = TestEnvironment.freePort()
        try #"{"monitoring": {"health_port": \#(health), "listen_address": "127.0.0.1", "check_interval": 0.5}}"#
            .write(toFile: directory + "/monitor.json", atomically: true, encoding: .utf8)
        let binary = TestEnvironment.binary
        let script = """
            cd '\(directory)' && PROMETHEUS_PORT=\(metrics) '\(binary)' --config monitor.json 2>monitor.log &
            server=$!
            cd /
            status=1
            for i in $(seq 1 100); do
              if '\(binary)' --health-probe > probe.out 2>&1; then status=0; break; fi
              sleep 0.1
            done
            cat probe.out
            echo "probe exit $status"
            kill $server; wait $server
            echo "server exit $?"
            """
        let child = try ChildProcess("/usr/bin/unshare", ["--pid", "--fork", "--mount-proc", "/bin/sh", "-c", script])
        defer { child.stop() }
        #expect(child.waitForExit(seconds: 30) == 0)
        let output = child.stdout
        #expect(output.contains("health probe: using the configuration of pid"), "\(output)\(child.stderr)")
        #expect(output.contains("HTTP/1.1 200"), "\(output)")
        #expect(output.contains("probe exit 0"), "\(output)")
        #expect(output.contains("server exit 0"), "\(output)")
        // Without a monitor beside it, the bare probe tries the default port and says so.
        let alone = try ChildProcess("/usr/bin/unshare", ["--pid", "--fork", "--mount-proc", binary, "--health-probe"])
        defer { alone.stop() }
        #expect(alone.waitForExit(seconds: 20) == 1)
        #expect(alone.stdout.contains("127.0.0.1:8080"), "\(alone.stdout)")
    }

    /// `performance.monitoring_overhead_limit_percent` far below what checks every 0.1 s cost:
    /// the interval is lengthened window by window, logged, shown in /health and the metrics, and
    /// /health stays 200 though checks are now further apart than three configured intervals.
    @Test func aTinyOverheadLimitLengthensTheCheckInterval() throws {
        let exporter = try Exporter(["--check-interval", "0.1"], config: #"{"performance": {"monitoring_overhead_limit_percent": 0.0001}}"#)
        defer { exporter.stop() }
        var overhead: [String: Any] = [:]
        #expect(waitFor(15) {
            overhead = ((try? exporter.health("/health"))?["overhead"] as? [String: Any]) ?? [:]
            return (overhead["interval_seconds"] as? Double ?? 0) >= 0.4
        }, "\(overhead)")
        #expect(overhead["interval_lengthened"] as? Bool == true)
        #expect(overhead["configured_interval_seconds"] as? Double == 0.1)
        #expect(overhead["limit_percent"] as? Double == 0.0001)
        #expect((overhead["check_cpu_percent"] as? Double ?? 0) > 0.0001)
        #expect(exporter.child.stderr.contains("check interval lengthened"), "\(exporter.child.stderr.suffix(2000))")
        let text = try RawHTTP.request(port: exporter.metricsPort, path: "/metrics").bodyText
        let interval = text.split(separator: "\n").first { $0.hasPrefix("memory_check_interval_seconds ") }.flatMap { Double($0.split(separator: " ").last ?? "") }
        #expect((interval ?? 0) >= 0.4, "\(interval ?? -1)")
        #expect(text.contains("memory_check_cpu_ratio "))
        // Checks are now at least 0.4 s apart: more than 3 configured intervals, not a stall.
        var late: [String: Any] = [:]
        #expect(waitFor(5) {
            late = (try? exporter.health("/health")) ?? [:]
            return (late["last_check_age_seconds"] as? Double ?? 0) > 0.3
        }, "\(late)")
        // The same answer: monitoring_active is false exactly when /health answers 503 (stalled).
        #expect(late["monitoring_active"] as? Bool == true, "\(late)")
        #expect(!exporter.child.stderr.contains("accepted but without effect"))
        #expect(exporter.stop() == 0)
    }

    /// --check-config warns about placeholder destinations, and names unknown keys even when
    /// there are errors (a misspelt key is often why a value is wrong).
    @Test func placeholdersAndUnknownKeysAreWarnedAbout() throws {
        let placeholder = try writeConfig(#"{"alerting": {"webhook_url": "https://your-webhook.com/alerts/SECRETPART"}}"#)
        let (status, output) = try run(["--config", placeholder, "--check-config"])
        #expect(status == 0)
        #expect(output.contains("warning: alerting.webhook_url looks like a placeholder"), "\(output)")
        #expect(!output.contains("SECRETPART"))
        let broken = try writeConfig(#"{"thresholds": {"memory_criticl_mb": 10, "memory_warning_mb": 9000}}"#)
        let (brokenStatus, brokenOutput) = try run(["--config", broken, "--check-config"])
        #expect(brokenStatus == 2)
        #expect(brokenOutput.contains("unknown configuration key thresholds.memory_criticl_mb is ignored"), "\(brokenOutput)")
        #expect(brokenOutput.contains("warning < critical < emergency"))
    }

    @Test func configFileEncodingAndSize() throws {
        let huge = try writeConfig("{\"monitoring\": {}, \"pad\": \"" + String(repeating: "x", count: 1_100_000) + "\"}")
        let (bigStatus, bigOutput) = try run(["--config", huge, "--check-config"])
        #expect(bigStatus == 2)
        #expect(bigOutput.contains("is too large: 1100") && bigOutput.contains("the limit is 1 MiB"), "\(bigOutput)")

        let bom = NSTemporaryDirectory() + "mm-bom-\(UUID().uuidString).json"
        try Data([0xEF, 0xBB, 0xBF] + Array(#"{"monitoring": {"check_interval": 5}}"#.utf8)).write(to: URL(fileURLWithPath: bom))
        let (bomStatus, bomOutput) = try run(["--config", bom, "--check-config"])
        #expect(bomStatus == 0, "\(bomOutput)")

        let bad = NSTemporaryDirectory() + "mm-latin1-\(UUID().uuidString).json"
        try Data(Array(#"{"logging": {"file": "caf"#.utf8) + [0xE9] + Array(#"/x.log"}}"#.utf8)).write(to: URL(fileURLWithPath: bad))
        let (badStatus, badOutput) = try run(["--config", bad, "--check-config"])
        #expect(badStatus == 2)
        #expect(badOutput.contains("invalid UTF-8 at byte offset 25"), "\(badOutput)")

        let overflow = try writeConfig(#"{"thresholds": {"memory_warning_mb": 1e309}}"#)
        let (overflowStatus, overflowOutput) = try run(["--config", overflow, "--check-config"])
        #expect(overflowStatus == 2)
        #expect(overflowOutput.contains("number 1e309 is out of range"), "\(overflowOutput)")
    }

    @Test func invalidJSONNamesLineAndColumn() throws {
        let path = try writeConfig("{\n  \"monitoring\": {\n    \"check_interval\": 30,\n  }\n}\n")
        let (status, output) = try run(["--config", path, "--check-config"])
        #expect(status == 2)
        #expect(output.contains("invalid JSON at line 4, column 3: expected a string key"))
    }

    @Test func missingFileIsNamed() throws {
        let (status, output) = try run(["--config", "/nonexistent/monitoring.json"])
        #expect(status == 2)
        #expect(output.contains("cannot read configuration file /nonexistent/monitoring.json"))
    }

    @Test func checkConfigAcceptsTheSpecExampleAndWarnsOnUnknownKeys() throws {
        let path = try writeConfig(#"{"monitoring": {"check_interval": 30, "colour": "blue"}}"#)
        let (status, output) = try run(["--config", path, "--check-config"])
        #expect(status == 0)
        #expect(output.contains("unknown configuration key monitoring.colour is ignored"))
        #expect(output.contains("configuration is valid"))
    }

    @Test func shippedExampleConfigurationIsValid() throws {
        let (status, output) = try run(["--config", TestEnvironment.packageRoot + "/docs/monitoring_config.example.json", "--check-config"])
        #expect(status == 0)
        #expect(!output.contains("unknown configuration key"))
    }

    @Test func environmentIsValidatedAndNamed() throws {
        var env = ProcessInfo.processInfo.environment
        env["PROMETHEUS_PORT"] = "ninety"
        let (status, output) = try run(["--check-config"], environment: env)
        #expect(status == 2)
        #expect(output.contains("PROMETHEUS_PORT: \"ninety\" is not allowed; expected a port number from 1 to 65535"))
    }

    @Test func flagsOverrideEnvironment() throws {
        var env = ProcessInfo.processInfo.environment
        env["MONITORING_LOG_LEVEL"] = "error"
        let exporter = try Exporter(["--log-level", "info"], environment: env)
        // Logged after the listeners are bound, which is when `Exporter` returns: wait for it.
        #expect(waitFor(10) { exporter.child.stderr.contains("info memory-monitor: memory-monitor started") })
        #expect(exporter.stop() == 0)
    }

    @Test func portInUseExitsNonZeroNamingThePort() throws {
        let first = try Exporter()
        let (status, output) = try run(["--health-port", "0", "--prometheus-port", "\(first.metricsPort)", "--listen-address", "127.0.0.1"])
        #expect(status != 0)
        #expect(output.contains("cannot listen on 127.0.0.1:\(first.metricsPort) for the metrics endpoint: address already in use"))
        #expect(try RawHTTP.request(port: first.metricsPort, path: "/metrics").status == 200)
        #expect(first.stop() == 0)
    }

    @Test func sigtermStopsGracefullyAndLogsToFile() throws {
        let log = NSTemporaryDirectory() + "mm-logs-\(UUID().uuidString)/production.log"
        let exporter = try Exporter(["--log-file", log, "--check-interval", "0.2"])
        #expect(try RawHTTP.request(port: exporter.healthPort, path: "/health").status == 200)
        #expect(exporter.stop() == 0)
        let stderr = exporter.child.stderr
        #expect(stderr.contains("check loop stopped"))
        #expect(stderr.contains("memory-monitor stopped"))
        let file = (try? String(contentsOfFile: log, encoding: .utf8)) ?? ""
        #expect(file.contains("memory-monitor started"))
        #expect(file.contains("memory-monitor stopped"))
    }

    /// A SIGTERM between binding and the service group taking over signals still shuts down
    /// gracefully (exit 0), never by the default signal action.
    @Test func sigtermRightAfterBindingIsGraceful() throws {
        for _ in 0..<5 {
            let child = try ChildProcess(TestEnvironment.binary, ["--health-port", "0", "--prometheus-port", "0", "--listen-address", "127.0.0.1"])
            #expect(child.wait(seconds: 20) { child.stderr.contains("role=metrics") })
            kill(child.pid, SIGTERM)
            #expect(child.waitForExit(seconds: 10) == 0, "\(child.stderr.suffix(500))")
            child.stop()
        }
    }

    @Test func samePortServesEverything() throws {
        let port = TestEnvironment.freePort()
        let child = try ChildProcess(TestEnvironment.binary, ["--health-port", "\(port)", "--prometheus-port", "\(port)", "--listen-address", "127.0.0.1"])
        #expect(child.wait(seconds: 20) { child.stderr.contains("role=health and metrics") })
        #expect(try RawHTTP.request(port: port, path: "/metrics").status == 200)
        #expect(try RawHTTP.request(port: port, path: "/health").status == 200)
        #expect(child.stop() == 0)
    }

    @Test func separatePortsServeTheirOwnRoutes() throws {
        let exporter = try Exporter()
        #expect(try RawHTTP.request(port: exporter.metricsPort, path: "/health").status == 404)
        #expect(try RawHTTP.request(port: exporter.healthPort, path: "/metrics").status == 404)
        #expect(exporter.stop() == 0)
    }

    @Test func followsATargetByPidfileAndReportsItGone() throws {
        let pidfile = NSTemporaryDirectory() + "mm-\(UUID().uuidString).pid"
        let sleeper = try ChildProcess("/bin/sleep", ["60"])
        try "\(sleeper.pid)\n".write(toFile: pidfile, atomically: true, encoding: .utf8)
        let exporter = try Exporter(["--pidfile", pidfile, "--check-interval", "0.2"])
        let up = try RawHTTP.request(port: exporter.metricsPort, path: "/metrics").bodyText
        #expect(up.contains("memory_target_up 1"))
        #expect(up.contains("memory_target_pid \(sleeper.pid)"))
        sleeper.stop()
        #expect(exporter.child.wait(seconds: 5) {
            ((try? RawHTTP.request(port: exporter.healthPort, path: "/health").bodyText) ?? "").contains("\"up\":false")
        })
        let down = try RawHTTP.request(port: exporter.metricsPort, path: "/metrics").bodyText
        #expect(down.contains("memory_target_up 0"))
        #expect(!down.contains("memory_process_resident_bytes "))
        #expect(exporter.stop() == 0)
    }
}

/// The README's commands, as a newcomer would type them. Every `memory-monitor …` line is run
/// with `--check-config` added (the flags, files and values it names must be valid), and the
/// `curl … | grep` line against a running exporter. Not run here, and why: `swift run -c release`
/// (a release build; CI runs the debug binary), `scripts/test.sh` (it is the test command),
/// `docker compose up` (no Docker engine; `composeFileIsValidAndSafeByDefault` validates the file
/// with `.env.example`), `scripts/compare-exporters.py`, `scripts/group-cost.py` and the benchmark package (minutes of
/// measurement, run by hand).
@Suite("README commands", .serialized, .offCooperativePool)
struct ReadmeCommandTests {
    static func shellLines() throws -> [String] {
        let readme = try String(contentsOfFile: TestEnvironment.packageRoot + "/README.md", encoding: .utf8)
        var lines: [String] = []
        var inShell = false
        for line in readme.split(separator: "\n", omittingEmptySubsequences: false) {
            if line.hasPrefix("```") {
                inShell = line == "```sh"
                continue
            }
            if inShell { lines.append(String(line)) }
        }
        return lines
    }

    /// Splits a README line into arguments: single quotes group, a `#` comment ends it.
    static func arguments(_ line: String) -> [String] {
        var args: [String] = []
        var current = ""
        var quoted = false
        var started = false
        for c in line {
            if c == "'" { quoted.toggle(); started = true; continue }
            if !quoted && c == "#" { break }
            if !quoted && c == " " {
                if started { args.append(current) }
                current = ""
                started = false
                continue
            }
            current.append(c)
            started = true
        }
        if started { args.append(current) }
        return args
    }

    @Test func everyMemoryMonitorLineIsValid() throws {
        let lines = try Self.shellLines().filter { $0.hasPrefix("memory-monitor ") }
        #expect(lines.count >= 7)
        let directory = NSTemporaryDirectory() + "mm-readme-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        // The files the examples name that a newcomer would have written: the example configuration.
        let example = TestEnvironment.packageRoot + "/docs/monitoring_config.example.json"
        for name in ["my.json", "alerts.json"] { try FileManager.default.copyItem(atPath: example, toPath: directory + "/" + name) }
        for line in lines {
            var args = Array(Self.arguments(line).dropFirst())
            // Paths relative to the repository (or to the newcomer's directory for their own files).
            args = args.map { arg in
                if arg.hasPrefix("docs/") { return TestEnvironment.packageRoot + "/" + arg }
                if arg == "my.json" || arg == "alerts.json" { return directory + "/" + arg }
                if arg == "/var/lib/memory-monitor" { return directory + "/state" }
                return arg
            }
            if !args.contains("--check-config") { args.append("--check-config") }
            let r = try TestEnvironment.run(TestEnvironment.binary, args)
            #expect(r.status == 0, "README: \(line)\n\(r.stderr)")
        }
    }

    @Test func theCurlLineFindsTheSPECFamily() throws {
        let line = try #require(try Self.shellLines().first { $0.hasPrefix("curl ") })
        let exporter = try Exporter()
        defer { exporter.stop() }
        let command = line.replacingOccurrences(of: "localhost:9091", with: "127.0.0.1:\(exporter.metricsPort)")
        #expect(command != line, "the README's curl line no longer names localhost:9091")
        let r = try TestEnvironment.run("/bin/sh", ["-c", command])
        #expect(r.status == 0 && r.stdout.contains("memory_usage_bytes{component=\"rss_mb\"}"), "\(r.stdout)\(r.stderr)")
    }
}
