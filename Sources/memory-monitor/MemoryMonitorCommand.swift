#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import ArgumentParser
import Logging
import MemoryMonitor
import MemoryMonitorHTTP
import ServiceLifecycle
import Synchronization

@main
struct MemoryMonitorCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "memory-monitor",
        abstract: "Prometheus exporter and health API for process, container and host memory.",
        discussion: """
            Configuration comes from the embedded defaults, then --config FILE, then the environment \
            (MEMORY_HEALTH_PORT, PROMETHEUS_PORT, MONITORING_LOG_LEVEL, SLACK_WEBHOOK_URL, ALERT_EMAIL, MEMORY_ACTION_TOKEN), \
            then these flags. An invalid configuration exits with status 2 before any port is bound.

            Endpoints: GET /health, GET /health/memory, GET /health/alerts?hours=N, \
            GET /health/metrics/history?hours=N, GET /health/actions?hours=N and POST /health/actions/gc \
            on the health port; GET and HEAD /metrics on the Prometheus port. POST answers loopback \
            clients only unless security.action_token (MEMORY_ACTION_TOKEN) is set; then it needs \
            Authorization: Bearer <token>.

            The automatic response (auto_response) acts at each level: in the monitor's own process \
            by default; on the target (signal, http_hook, command, restart) with --pid, --pidfile, \
            --process-name or --process-match.
            """,
        version: MonitorMetrics.versionDescription
    )

    @Option(name: .long, help: ArgumentHelp("JSON configuration file (see docs/configuration.md).", valueName: "file"))
    var config: String?

    @Option(name: .long, parsing: .unconditional, help: ArgumentHelp("Port of the health API (default 8080; 0 picks a free port and logs it).", valueName: "port"))
    var healthPort: String?

    @Option(name: .long, parsing: .unconditional, help: ArgumentHelp("Port of /metrics (default 9091; may equal --health-port; 0 picks a free port).", valueName: "port"))
    var prometheusPort: String?

    @Option(name: .long, help: ArgumentHelp("Address both listeners bind (default 0.0.0.0).", valueName: "address"))
    var listenAddress: String?

    @Option(name: .long, help: ArgumentHelp("trace, debug, info, notice, warning, error or critical (default info).", valueName: "level"))
    var logLevel: String?

    @Option(name: .long, help: ArgumentHelp("Also append log lines to this file, e.g. logs/production.log.", valueName: "path"))
    var logFile: String?

    @Option(name: .long, parsing: .unconditional, help: ArgumentHelp("Seconds between checks, 0.1 to 86400, fractions allowed (default 30).", valueName: "seconds"))
    var checkInterval: String?

    @Option(
        name: .long, parsing: .unconditional,
        help: ArgumentHelp("Monitor this process instead of the monitor itself (a reused pid is not followed).", valueName: "pid"))
    var pid: String?

    @Option(name: .long, help: ArgumentHelp("Monitor the process whose id this file holds (re-read every check; a new process is a new target).", valueName: "path"))
    var pidfile: String?

    @Option(name: .long, help: ArgumentHelp("Monitor the process with this name (lowest pid if several; never the monitor or its ancestors).", valueName: "name"))
    var processName: String?

    @Option(
        name: .long,
        help: ArgumentHelp(
            "Monitor every process whose full command line matches this regular expression, as one group (sums; never the monitor or its ancestors, such as a wrapper it runs under).",
            valueName: "regex"))
    var processMatch: String?

    @Option(
        name: .long,
        help: ArgumentHelp("Read this cgroup directory for the limit and OOM kills instead of resolving the target's (a sidecar).", valueName: "path"))
    var cgroup: String?

    @Option(name: .long, help: ArgumentHelp("Keep undelivered alerts and alert history here across restarts.", valueName: "directory"))
    var stateDir: String?

    @Option(
        name: .customLong("web.config.file"),
        help: ArgumentHelp("exporter-toolkit web configuration (YAML): TLS, mTLS, basic auth, headers, for both ports.", valueName: "file"))
    var webConfigFile: String?

    @Flag(
        name: .long,
        help: """
            GET /health and exit 0 (healthy) or 1: a container HEALTHCHECK without curl. With no --config, --health-port, \
            --listen-address or MEMORY_HEALTH_PORT, it probes the monitor running this binary beside it, on the port \
            that monitor's flags, --config file and environment give.
            """)
    var healthProbe = false

    @Flag(name: .long, help: "Validate the configuration, print the result and exit (0 valid, 2 invalid).")
    var checkConfig = false

    /// The entry point: caps glibc's malloc arenas before any other thread exists (a thread's
    /// first allocation opens an arena of its own, and the cap does not close one already open;
    /// set in `run()`, which runs on a thread of the cooperative pool, two threads had arenas by
    /// then), then parses the arguments and runs.
    static func main() async {
        AllocatorStatistics.capArenas(environment: AllocatorStatistics.arenaEnvironment())
        await main(nil)
    }

    func run() async throws {
        let environment = Self.environment()
        let loaded: (configuration: MonitorConfiguration, unknownKeys: [String], warnings: [String])
        do {
            loaded = try loadConfiguration(environment: environment)
        } catch {
            printError("memory-monitor: \(error)")
            throw ExitCode(2)
        }
        let configuration = loaded.configuration
        if healthProbe {
            var probed = configuration
            // A bare probe (a container's HEALTHCHECK) is for the monitor running beside it: its
            // port comes from that monitor's flags, --config file and environment.
            if config == nil && healthPort == nil && listenAddress == nil && environment["MEMORY_HEALTH_PORT"] == nil, let server = HealthProbe.findServer() {
                do {
                    var command = try MemoryMonitorCommand.parse(server.arguments)
                    if let file = command.config, !file.hasPrefix("/"), let cwd = server.workingDirectory { command.config = cwd + "/" + file }
                    probed = try command.loadConfiguration(environment: server.environment.filter { Self.environmentNames.contains($0.key) }).configuration
                    print("health probe: using the configuration of pid \(server.pid)")
                } catch {
                    print("health probe: cannot read the configuration of pid \(server.pid) (\(error)); probing the default port")
                }
            }
            throw ExitCode(HealthProbe.run(port: probed.monitoring.healthPort, address: probed.monitoring.listenAddress))
        }
        for key in loaded.unknownKeys { printError("memory-monitor: warning: unknown configuration key \(key) is ignored") }
        for warning in loaded.warnings { printError("memory-monitor: warning: \(warning)") }
        let environmentProblems = StartupChecks.problems(configuration)
        if !environmentProblems.isEmpty {
            for problem in environmentProblems { printError("memory-monitor: \(problem)") }
            throw ExitCode(2)
        }
        var security = HTTPSecurity()
        if let path = configuration.server.webConfigFile {
            do {
                security = try HTTPSecurity(try WebConfiguration.load(path: path))
            } catch {
                printError("memory-monitor: \(error)")
                throw ExitCode(2)
            }
        }
        if checkConfig {
            print("configuration is valid")
            return
        }

        let sinks: [LogSink]
        do {
            sinks = [LogSink(fd: 2)] + (try configuration.logging.file.map { [try LogSink.file($0)] } ?? [])
        } catch {
            printError("memory-monitor: \(error)")
            throw ExitCode(2)
        }
        let level = Logger.Level(rawValue: configuration.logging.level) ?? .info
        LogLevelControl.current = level
        let format: LogFormat = configuration.logging.format == "json" ? .json : .text
        LoggingSystem.bootstrap { label in LineLogHandler(label: label, sinks: sinks, format: format) }
        let logger = Logger(label: "memory-monitor")

        var store: AlertStateStore?
        if let directory = configuration.alerting.stateDirectory {
            do {
                let opened = try AlertStateStore(directory: directory, retentionSeconds: configuration.alerting.historyHours * 3600)
                for warning in opened.warnings.prefix(20) { logger.warning("\(warning)") }
                if opened.warnings.count > 20 { logger.warning("state journal: \(opened.warnings.count - 20) more warnings not shown") }
                store = opened
            } catch {
                logger.critical("cannot use the state directory", metadata: ["directory": "\(directory)", "error": "\(error)"])
                throw ExitCode(2)
            }
        }
        EarlySignals.record()
        let descriptors = FileDescriptorLimit.raise()
        logger.info(
            "file descriptor limit", metadata: ["soft_before": "\(descriptors.before)", "soft": "\(descriptors.soft)", "hard": "\(descriptors.hard)"])
        // Checks, alert deliveries and the log need descriptors too: connections get the rest.
        let descriptorCap = max(8, Int(min(descriptors.soft, 1 << 20)) - FileDescriptorLimit.reserved)
        let maxConnections = min(configuration.server.maxConnections ?? descriptorCap, descriptorCap)
        if let asked = configuration.server.maxConnections, asked > descriptorCap {
            logger.warning("server.max_connections is above what the file-descriptor limit allows", metadata: ["asked": "\(asked)", "allowed": "\(descriptorCap)"])
        }
        var limits = HTTPLimits()
        limits.maxHeaderBytes = configuration.server.maxHeaderBytes
        limits.maxURIBytes = configuration.server.maxURIBytes
        limits.maxBodyBytes = configuration.server.maxBodyBytes
        limits.requestTimeout = .milliseconds(Int64(configuration.server.requestTimeoutSeconds * 1000))
        limits.firstByteTimeout = .milliseconds(Int64(configuration.server.firstByteTimeoutSeconds * 1000))
        limits.idleTimeout = .milliseconds(Int64(configuration.server.idleTimeoutSeconds * 1000))
        await FileDescriptorLimit.warmUpTimers()
        for warning in AutoResponse.sidecarWarnings(configuration.autoResponse, inProcess: configuration.monitoring.target == .ownProcess) {
            logger.warning("\(warning)")
        }
        if configuration.autoResponse.dryRun { logger.notice("auto_response.dry_run: actions are logged and recorded, not run") }
        if !MonitorConfiguration.acceptedNotBuilt.isEmpty {
            logger.notice(
                "configuration keys accepted but without effect yet",
                metadata: ["keys": "\(MonitorConfiguration.acceptedNotBuilt.joined(separator: "; "))"])
        }
        let channels = AlertChannels.make(configuration.alerting, logger: logger)
        for warning in channels.warnings { logger.warning("\(warning)") }
        let monitor = MemoryMonitor(configuration: configuration, logger: logger, stateStore: store, channels: channels.channels)
        let cache = ExpositionCache(monitor: monitor, maxAge: .milliseconds(Int64(configuration.monitoring.scrapeMaxAge * 1000)))
        let server: HTTPServer
        do {
            server = try await HTTPServer.bind(
                host: configuration.monitoring.listenAddress,
                listeners: HTTPServer.listeners(healthPort: configuration.monitoring.healthPort, metricsPort: configuration.monitoring.prometheusPort),
                monitor: monitor, cache: cache, logger: logger, maxConnections: maxConnections, limits: limits, security: security,
                shutdownGrace: .milliseconds(Int64(configuration.server.shutdownGraceSeconds * 1000)))
        } catch {
            logger.critical("\(error)")
            throw ExitCode(1)
        }

        let groupBox = Mutex<ServiceGroup?>(nil)
        let group = ServiceGroup(
            configuration: .init(
                services: [
                    .init(service: EarlySignalReplay { await groupBox.withLock { $0 }?.triggerGracefulShutdown() }),
                    .init(service: AlertDelivery(dispatcher: monitor.alerts, logger: logger)),
                    .init(service: CheckLoop(monitor: monitor, logger: logger)),
                    .init(service: server),
                    .init(
                        service: ReloadOnHangup(
                            monitor: monitor, sinks: sinks, logger: logger,
                            load: { [self] unknownKeysOfAFailure in
                                try self.loadConfiguration(environment: Self.environment(), unknownKeysOfAFailure: unknownKeysOfAFailure)
                            })),
                ] + (security.tls.map { tls in
                    [.init(service: CertificateReloader(holder: tls, interval: .seconds(configuration.server.tlsReloadSeconds), logger: logger))]
                } ?? []),
                gracefulShutdownSignals: [.sigterm, .sigint],
                logger: logger))
        logger.info(
            "memory-monitor started",
            metadata: ["version": "\(MonitorMetrics.version)", "pid": "\(getpid())", "config": "\(config ?? "embedded defaults")"])
        groupBox.withLock { $0 = group }
        try await group.run()
        // The check loop stopped its actions and restored agents' gates; what a request started
        // after that (POST /health/actions/gc while connections drained) is stopped here too
        // (a command gets SIGTERM, then SIGKILL).
        monitor.autoResponse.cancelRunning()
        await monitor.autoResponse.waitForRunning()
        await monitor.autoResponse.releaseAgentGates()
        logger.info("memory-monitor stopped")
    }

    /// The SPEC's environment variables that are set.
    /// The environment variables the configuration reads.
    static let environmentNames = ["MEMORY_HEALTH_PORT", "PROMETHEUS_PORT", "MONITORING_LOG_LEVEL", "SLACK_WEBHOOK_URL", "ALERT_EMAIL", "MEMORY_ACTION_TOKEN"]

    static func environment() -> [String: String] {
        var environment: [String: String] = [:]
        for name in environmentNames {
            if let value = getenv(name) { environment[name] = String(cString: value) }
        }
        return environment
    }

    /// Defaults < file < environment < flags, with every problem collected. When the configuration
    /// is invalid, its unknown keys (often the cause: a misspelt key left a default) go to
    /// `unknownKeysOfAFailure`, or to standard error without one.
    func loadConfiguration(environment: [String: String], unknownKeysOfAFailure: (([String]) -> Void)? = nil) throws -> (
        configuration: MonitorConfiguration, unknownKeys: [String], warnings: [String]
    ) {
        var loader = ConfigurationLoader()
        if let config {
            try loader.apply(json: try ConfigurationLoader.readFile(config), source: config)
        }
        loader.apply(environment: environment)
        if let healthPort { loader.setPort(healthPort, name: "--health-port", allowsAnyFreePort: true) { $0.monitoring.healthPort = $1 } }
        if let prometheusPort { loader.setPort(prometheusPort, name: "--prometheus-port", allowsAnyFreePort: true) { $0.monitoring.prometheusPort = $1 } }
        if let logLevel { loader.setLogLevel(logLevel, source: "--log-level") }
        if let listenAddress { loader.configuration.monitoring.listenAddress = listenAddress }
        if let logFile { loader.configuration.logging.file = logFile }
        if let stateDir { loader.configuration.alerting.stateDirectory = stateDir }
        if let webConfigFile { loader.configuration.server.webConfigFile = webConfigFile }
        if let checkInterval {
            if let seconds = Double(checkInterval), seconds.isFinite {
                loader.setCheckInterval(seconds, source: "--check-interval")
            } else {
                loader.report(ConfigurationProblem(keyPath: "--check-interval", value: "\"\(checkInterval.prefix(64))\"", allowed: "a number >= 0.1 and <= 86400"))
            }
        }
        var pidNumber: Int32?
        if let pid {
            if let n = Int32(pid), n >= 1 {
                pidNumber = n
            } else {
                loader.report(ConfigurationProblem(keyPath: "--pid", value: "\"\(pid.prefix(64))\"", allowed: "a process id from 1 to \(Int32.max)"))
            }
        }
        if let cgroup { loader.setCgroup(cgroup, source: "--cgroup") }
        loader.setTarget(
            pid: pidNumber, pidfile: pidfile, processName: processName, processMatch: processMatch,
            sources: "--pid, --pidfile, --process-name, --process-match")
        do {
            return (try loader.validated(), loader.unknownKeys, loader.warnings)
        } catch {
            // Unknown keys are often the cause of the errors (a misspelt key left a default): say both.
            if let unknownKeysOfAFailure {
                unknownKeysOfAFailure(loader.unknownKeys)
            } else {
                for key in loader.unknownKeys { printError("memory-monitor: warning: unknown configuration key \(key) is ignored") }
            }
            throw error
        }
    }

    private func printError(_ message: String) {
        var line = message + "\n"
        line.withUTF8 { buffer in _ = write(2, buffer.baseAddress, buffer.count) }
    }
}
