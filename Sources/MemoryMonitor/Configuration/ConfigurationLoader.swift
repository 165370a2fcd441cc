#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// Reads the SPEC §3 JSON file and the SPEC's environment variables into a `MonitorConfiguration`,
/// collecting every problem with its key path, and naming unknown keys as warnings.
public struct ConfigurationLoader {
    /// Problems found so far; the configuration is unusable while this is non-empty.
    public private(set) var problems: [ConfigurationProblem] = []
    /// Unknown keys, as `key path` strings; they are ignored.
    public private(set) var unknownKeys: [String] = []

    /// Things that load but look wrong: placeholder destinations copied from an example.
    public var warnings: [String] {
        var found: [String] = []
        let a = configuration.alerting
        let destinations: [(String, String?)] =
            [("alerting.webhook_url", a.webhookURL), ("alerting.slack_webhook", a.slackWebhook), ("alerting.alertmanager_url", a.alertmanagerURL)]
            + a.alertmanagerURLs.map { ("alerting.alertmanager_urls", $0) } + [("alerting.smtp.host", a.smtp.host), ("alerting.email", a.email)]
        for (key, value) in destinations {
            guard let value, Self.isPlaceholder(value) else { continue }
            // The key only: a webhook URL may hold a secret even when it is a placeholder.
            found.append("\(key) looks like a placeholder (example.com, your-webhook.com, REPLACE_ME): alerts sent there go nowhere")
        }
        return found
    }

    static func isPlaceholder(_ value: String) -> Bool {
        let v = value.lowercased()
        return ["example.com", "example.org", "example.net", "your-webhook", "yourcompany.com", "replace_me", ".invalid"].contains { v.contains($0) }
    }
    /// The configuration built so far.
    public var configuration: MonitorConfiguration

    /// Starts from `base` (the embedded defaults unless given).
    public init(base: MonitorConfiguration = MonitorConfiguration()) {
        self.configuration = base
    }

    /// Throws when problems were found; otherwise returns the configuration.
    public func validated() throws(ConfigurationError) -> MonitorConfiguration {
        var all = problems
        all += Self.crossChecks(configuration)
        if !all.isEmpty { throw ConfigurationError(problems: all) }
        return configuration
    }

    // MARK: File

    /// The largest configuration file read.
    public static let maximumFileBytes = 1 << 20

    /// Reads a configuration file's text: at most 1 MiB, UTF-8 (a byte-order mark is skipped;
    /// invalid UTF-8 is an error naming its byte offset).
    public static func readFile(_ path: String) throws(ConfigurationError) -> String {
        var info = stat()
        guard stat(path, &info) == 0 else {
            throw ConfigurationError(fileError: "cannot read configuration file \(path): \(String(cString: strerror(errno)))")
        }
        guard Int(info.st_size) <= maximumFileBytes else {
            throw ConfigurationError(fileError: "configuration file \(path) is too large: \(info.st_size) bytes; the limit is 1 MiB")
        }
        let bytes: [UInt8]
        switch FileSystem.readBytes(path, limit: maximumFileBytes + 1) {
        case .success(let read): bytes = read
        case .failure(let failure): throw ConfigurationError(fileError: "cannot read configuration file \(path): \(failure)")
        }
        guard bytes.count <= maximumFileBytes else {
            throw ConfigurationError(fileError: "configuration file \(path) is too large: over 1 MiB")
        }
        var body = bytes[...]
        if body.starts(with: [0xEF, 0xBB, 0xBF]) { body = body.dropFirst(3) }
        if let offset = invalidUTF8Offset(body) {
            throw ConfigurationError(fileError: "\(path): invalid UTF-8 at byte offset \(offset + (bytes.count - body.count))")
        }
        return String(decoding: body, as: UTF8.self)
    }

    /// The offset of the first byte that is not valid UTF-8, or nil.
    static func invalidUTF8Offset(_ bytes: ArraySlice<UInt8>) -> Int? {
        var parser = Unicode.UTF8.ForwardParser()
        var iterator = bytes.makeIterator()
        var offset = 0
        while true {
            switch parser.parseScalar(from: &iterator) {
            case .valid(let scalar): offset += scalar.count
            case .emptyInput: return nil
            case .error: return offset
            }
        }
    }

    /// Applies a JSON document (the file's text). Invalid JSON throws with line and column.
    public mutating func apply(json text: String, source: String) throws(ConfigurationError) {
        let root: JSONValue
        do {
            root = try JSONParser.parse(text)
        } catch {
            throw ConfigurationError(fileError: "\(source): \(error)")
        }
        guard case .object(let object) = root else {
            throw ConfigurationError(fileError: "\(source): the top level must be a JSON object, found \(root.kindDescription)")
        }
        apply(root: object)
    }

    mutating func apply(root: JSONObject) {
        var r = Reader(object: root, path: "")
        if let m = r.section("monitoring") { applyMonitoring(m) }
        if let t = r.section("thresholds") { applyThresholds(t) }
        if let a = r.section("alerting") { applyAlerting(a) }
        if let a = r.section("auto_response") { applyAutoResponse(a) }
        if let s = r.section("security") { applySecurity(s) }
        if let s = r.section("server") { applyServer(s) }
        if let e = r.section("experimental") { applyExperimental(e) }
        if let p = r.section("performance") { applyPerformance(p) }
        if let l = r.section("logging") { applyLogging(l) }
        r.finish()
        merge(r)
    }

    private mutating func applyMonitoring(_ r0: Reader) {
        var r = r0
        var m = configuration.monitoring
        if let v = r.number("check_interval", atLeast: Self.minimumCheckInterval, atMost: 86_400) { m.checkInterval = v }  // Self.checkIntervalAllowed
        if let v = r.bool("enable_tracemalloc") { m.collectAllocatorStatistics = v }
        if let v = r.port("prometheus_port") { m.prometheusPort = v }
        if let v = r.port("health_port") { m.healthPort = v }
        if let v = r.string("listen_address", nonEmpty: true) { m.listenAddress = v }
        if let v = r.integer("history_size", in: 1...100_000) { m.historySize = v }
        if let v = r.number("scrape_max_age_seconds", atLeast: 0, atMost: 3600) { m.scrapeMaxAge = v }
        if let v = r.number("pss_refresh_seconds", atLeast: 0, atMost: 86_400) { m.pssRefreshSeconds = v }
        if let v = r.number("pss_budget_seconds", atLeast: 0, atMost: 60) { m.pssBudgetSeconds = v }
        if let v = r.string("cgroup", nonEmpty: true) {
            if let allowed = Self.cgroupProblem(v) { r.problem("cgroup", value: "\"\(v)\"", allowed: allowed) } else { m.cgroup = v }
        }
        if let v = r.string("pressure_trigger", nonEmpty: true) {
            if v == "off" {
                m.pressureTrigger = nil
            } else if let problem = PressureTrigger.specProblem(v) {
                r.problem("pressure_trigger", value: "\"\(v)\"", allowed: problem)
            } else {
                m.pressureTrigger = v
            }
        }
        if var t = r.section("target") {
            var targets: [MonitoredTarget] = []
            if let pid = t.integer("pid", in: 1...Int(Int32.max)) { targets.append(.pid(Int32(pid))) }
            if let path = t.string("pidfile", nonEmpty: true) { targets.append(.pidfile(path)) }
            if let name = t.string("process_name", nonEmpty: true) { targets.append(.processName(name)) }
            if let pattern = t.string("match", nonEmpty: true) {
                if let problem = Self.patternProblem(pattern) {
                    t.problem("match", value: "\"\(pattern)\"", allowed: "a regular expression (\(problem))")
                } else {
                    targets.append(.processMatch(pattern))
                }
            }
            if targets.count > 1 {
                t.problem("", value: "\(targets.count) targets", allowed: "at most one of pid, pidfile, process_name, match")
            } else if let target = targets.first {
                m.target = target
            }
            t.finish()
            r.merge(t)
        }
        if var l = r.section("leak_detection") {
            if let v = l.bool("enabled") { m.leakDetection.enabled = v }
            if let v = l.number("threshold_growth_rate", above: 0, atMost: 100) { m.leakDetection.thresholdGrowthRate = v }
            if let v = l.number("monitoring_window", above: 0, atMost: 604_800) { m.leakDetection.monitoringWindow = v }
            if let v = l.string("severity", nonEmpty: true) {
                if let severity = Severity.alerting.first(where: { $0.description == v }) {
                    m.leakDetection.severity = severity
                } else {
                    l.problem("severity", value: "\"\(v)\"", allowed: "one of warning, critical, emergency")
                }
            }
            l.finish()
            r.merge(l)
        }
        r.finish()
        configuration.monitoring = m
        merge(r)
    }

    private mutating func applyThresholds(_ r0: Reader) {
        var r = r0
        var t = configuration.thresholds
        if let v = r.number("memory_warning_mb", above: 0) { t.memoryWarningMB = v }
        if let v = r.number("memory_critical_mb", above: 0) { t.memoryCriticalMB = v }
        if let v = r.number("memory_emergency_mb", above: 0) { t.memoryEmergencyMB = v }
        if let v = r.number("memory_percent_warning", above: 0, atMost: 100) { t.memoryPercentWarning = v }
        if let v = r.number("memory_percent_critical", above: 0, atMost: 100) { t.memoryPercentCritical = v }
        if let v = r.number("memory_percent_emergency", above: 0, atMost: 100) { t.memoryPercentEmergency = v }
        if let v = r.number("swap_percent_warning", above: 0, atMost: 100) { t.swapPercentWarning = v }
        if let v = r.number("swap_percent_critical", above: 0, atMost: 100) { t.swapPercentCritical = v }
        if let v = r.number("swap_percent_emergency", above: 0, atMost: 100) { t.swapPercentEmergency = v }
        r.finish()
        configuration.thresholds = t
        merge(r)
    }

    private mutating func applyAlerting(_ r0: Reader) {
        var r = r0
        var a = configuration.alerting
        if let v = r.url("webhook_url") { a.webhookURL = v }
        if let v = r.secretFile("webhook_url_file", instead: "webhook_url", check: Self.isHTTPURL, allowed: "a file holding an http:// or https:// URL") {
            a.webhookURL = v
        }
        if let v = r.url("slack_webhook") { a.slackWebhook = v }
        if let v = r.secretFile("slack_webhook_file", instead: "slack_webhook", check: Self.isHTTPURL, allowed: "a file holding an http:// or https:// URL") {
            a.slackWebhook = v
        }
        if let v = r.url("alertmanager_url") { a.alertmanagerURL = v }
        if let v = r.urlArray("alertmanager_urls") { a.alertmanagerURLs = v }
        if let v = r.string("job", nonEmpty: true) { a.job = v }
        if var l = r.section("external_labels") {
            var labels: [String: String] = [:]
            for key in l.object.keys.sorted() {
                guard Self.isLabelName(key) else {
                    l.problem(key, value: "a label name", allowed: "a Prometheus label name ([a-zA-Z_][a-zA-Z0-9_]*, not starting with __)")
                    continue
                }
                if let value = l.string(key, nonEmpty: true) { labels[key] = value }
            }
            for reserved in ["alertname", "severity", "component", "instance", "job"] where labels[reserved] != nil {
                l.problem(reserved, value: "set", allowed: "a label other than alertname, severity, component, instance and job")
                labels[reserved] = nil
            }
            l.finish()
            r.merge(l)
            a.externalLabels = labels
        }
        if let v = r.string("email", nonEmpty: true) { a.email = v }
        if let v = r.number("rate_limit_seconds", atLeast: 0, atMost: 604_800) { a.rateLimitSeconds = v }
        if let v = r.number("hysteresis_percent", atLeast: 0, atMost: 50) { a.hysteresisPercent = v }
        if let v = r.integer("for_checks", in: 1...1000) { a.forChecks = v }
        if let v = r.string("instance", nonEmpty: true) { a.instance = v }
        if let v = r.number("delivery_timeout_seconds", above: 0, atMost: 300) { a.deliveryTimeoutSeconds = v }
        if let v = r.number("max_delivery_seconds", above: 0, atMost: 604_800) { a.maxDeliverySeconds = v }
        if let v = r.integer("queue_capacity", in: 1...1_000_000) { a.queueCapacity = v }
        if let v = r.number("max_retry_interval_seconds", atLeast: 0.5, atMost: 3600) { a.maxRetryIntervalSeconds = v }
        if let v = r.number("alertmanager_resend_seconds", above: 0, atMost: 86_400) { a.alertmanagerResendSeconds = v }
        if let v = r.number("history_hours", atLeast: 24, atMost: 8760) { a.historyHours = v }
        if let v = r.string("state_dir", nonEmpty: true) { a.stateDirectory = v }
        if let v = r.number("shutdown_grace_seconds", atLeast: 0, atMost: 300) { a.shutdownGraceSeconds = v }
        if var h = r.section("webhook_headers") {
            for key in h.object.keys {
                // Header values are often tokens: never echoed. Checked as bytes (RFC 9110): a
                // Swift Character "\r\n" is one grapheme, so contains("\n") would miss it.
                if !Self.isHeaderName(key) {
                    h.problem(key, value: "a header name", allowed: "an HTTP field name (letters, digits and !#$%&'*+-.^_`|~)")
                } else if case .string(let value) = h.object[key]!, Self.isHeaderValue(value) {
                    a.webhookHeaders[key] = value
                } else {
                    h.problem(
                        key, value: h.object[key]!.kindDescription,
                        allowed: "a string of visible characters, spaces and tabs (no line breaks or control characters, no leading or trailing space)")
                }
            }
            r.merge(h)
        }
        if var h = r.section("webhook_header_files") {
            for key in h.object.keys.sorted() {
                if !Self.isHeaderName(key) {
                    h.problem(key, value: "a header name", allowed: "an HTTP field name (letters, digits and !#$%&'*+-.^_`|~)")
                } else if a.webhookHeaders[key] != nil {
                    h.problem(key, value: "set", allowed: "either webhook_headers.\(key) or webhook_header_files.\(key), not both")
                } else if let value = h.secretFile(key, instead: nil, check: Self.isHeaderValue, allowed: "a file holding a header value (no control characters)") {
                    a.webhookHeaders[key] = value
                }
            }
            h.finish()
            r.merge(h)
        }
        if var m = r.section("smtp") {
            if let v = m.string("host", nonEmpty: true) { a.smtp.host = v }
            if let v = m.port("port") { a.smtp.port = v }
            if let v = m.string("username", nonEmpty: true) { a.smtp.username = v }
            if let v = m.secret("password") { a.smtp.password = v }
            if let v = m.secretFile("password_file", instead: "password", check: { !$0.isEmpty }, allowed: "a file holding the password") { a.smtp.password = v }
            if let v = m.string("from", nonEmpty: true) { a.smtp.from = v }
            if let v = m.bool("starttls") { a.smtp.startTLS = v }
            if let v = m.bool("insecure_skip_verify") { a.smtp.insecureSkipVerify = v }
            m.finish()
            r.merge(m)
        }
        if var levels = r.section("alert_levels") {
            for severity in ["warning", "critical", "emergency"] {
                guard var level = levels.section(severity) else { continue }
                if let channels = level.stringArray("channels", allowed: MonitorConfiguration.channelNames) {
                    a.channels[severity] = channels
                    a.explicitlyListedChannels.formUnion(channels)
                }
                level.finish()
                levels.merge(level)
            }
            levels.finish()
            r.merge(levels)
        }
        r.finish()
        configuration.alerting = a
        merge(r)
    }

    private mutating func applyAutoResponse(_ r0: Reader) {
        var r = r0
        var a = configuration.autoResponse
        if let v = r.bool("enabled") { a.enabled = v }
        if let v = r.bool("dry_run") { a.dryRun = v }
        if let v = r.number("cooldown_seconds", atLeast: 0, atMost: 86_400) { a.cooldownSeconds = v }
        if let v = r.number("settle_seconds", atLeast: 0, atMost: 600) { a.settleSeconds = v }
        if let v = r.number("action_timeout_seconds", above: 0, atMost: 3600) { a.actionTimeoutSeconds = v }
        for (key, level) in [("warning_actions", Severity.warning), ("critical_actions", .critical), ("emergency_actions", .emergency)] {
            guard var l = r.section(key) else { continue }
            var actions = a.actions(for: level) ?? LevelActionsReader.empty
            LevelActionsReader.apply(&l, to: &actions)
            if level == .emergency, let v = l.bool("send_immediate_alert") { configuration.alerting.emergencyBypassesRateLimit = v }
            l.finish()
            r.merge(l)
            switch level {
            case .warning: a.warning = actions
            case .critical: a.critical = actions
            default: a.emergency = actions
            }
        }
        if var g = r.section("admission_gate") {
            if let v = g.integer("limit", in: 1...1_000_000) { a.gate.limit = v }
            if let v = g.integer("critical_limit", in: 1...1_000_000) { a.gate.criticalLimit = v }
            if let v = g.integer("emergency_limit", in: 1...1_000_000) { a.gate.emergencyLimit = v }
            if let v = g.integer("max_waiting", in: 0...10_000_000) { a.gate.maxWaiting = v }
            g.finish()
            r.merge(g)
        }
        r.finish()
        configuration.autoResponse = a
        merge(r)
    }

    /// Reads one `<level>_actions` object.
    enum LevelActionsReader {
        static let empty = MonitorConfiguration.LevelActions()

        static func apply(_ l: inout Reader, to actions: inout MonitorConfiguration.LevelActions) {
            if let v = l.bool("force_gc") { actions.forceGC = v }
            if let v = l.integer("multiple_gc_cycles", in: 1...100) { actions.gcCycles = v }
            if let v = l.bool("clear_caches") { actions.clearCaches = v }
            if let v = l.bool("clear_all_caches") { actions.clearAllCaches = v }
            if let v = l.bool("throttle_operations") { actions.throttle = v }
            if let v = l.bool("emergency_throttle") { actions.emergencyThrottle = v }
            if let v = l.bool("stop_non_essential") { actions.stopNonEssential = v }
            if let v = l.bool("prepare_restart") { actions.prepareRestart = v }
            if let v = l.string("signal", nonEmpty: true) {
                if let signal = NamedSignal.named(v, in: NamedSignal.cleanupSignals) {
                    actions.signal = signal
                } else {
                    l.problem("signal", value: "\"\(v)\"", allowed: "one of " + NamedSignal.cleanupSignals.map(\.name).joined(separator: ", "))
                }
            }
            if let v = l.url("http_hook") { actions.httpHook = v }
            if let v = l.argv("command") { actions.command = v }
            if l.has("restart") {
                if let enabled = l.boolIfBool("restart") {
                    actions.restart = enabled ? MonitorConfiguration.Restart() : nil
                } else if var rs = l.section("restart") {
                    var restart = MonitorConfiguration.Restart()
                    if let v = rs.string("signal", nonEmpty: true) {
                        if let signal = NamedSignal.named(v, in: NamedSignal.restartSignals) {
                            restart.signal = signal
                        } else {
                            rs.problem("signal", value: "\"\(v)\"", allowed: "one of " + NamedSignal.restartSignals.map(\.name).joined(separator: ", "))
                        }
                    }
                    if let v = rs.integer("max_per_hour", in: 1...1000) { restart.maxPerHour = v }
                    if let v = rs.number("window_seconds", above: 0, atMost: 86_400) { restart.windowSeconds = v }
                    rs.finish()
                    l.merge(rs)
                    actions.restart = restart
                }
            }
        }
    }

    private mutating func applyServer(_ r0: Reader) {
        var r = r0
        var v = configuration.server
        if let n = r.string("web_config_file", nonEmpty: true) { v.webConfigFile = n }
        if let n = r.number("tls_reload_seconds", atLeast: 1, atMost: 86_400) { v.tlsReloadSeconds = n }
        if let n = r.integer("max_connections", in: 1...1_000_000) { v.maxConnections = n }
        if let n = r.number("idle_timeout_seconds", atLeast: 1, atMost: 86_400) { v.idleTimeoutSeconds = n }
        if let n = r.number("request_timeout_seconds", atLeast: 0.1, atMost: 3600) { v.requestTimeoutSeconds = n }
        if let n = r.number("first_byte_timeout_seconds", atLeast: 0.1, atMost: 3600) { v.firstByteTimeoutSeconds = n }
        if let n = r.integer("max_header_bytes", in: 1024...(1 << 20)) { v.maxHeaderBytes = n }
        if let n = r.integer("max_uri_bytes", in: 256...(1 << 20)) { v.maxURIBytes = n }
        if let n = r.integer("max_body_bytes", in: 0...(64 << 20)) { v.maxBodyBytes = n }
        if let hosts = r.hostArray("allowed_hosts") { v.allowedHosts = hosts }
        r.finish()
        configuration.server = v
        merge(r)
    }

    private mutating func applySecurity(_ r0: Reader) {
        var r = r0
        if let v = r.secret("action_token") { configuration.security.actionToken = v }
        if let v = r.secretFile("action_token_file", instead: "action_token", check: { !$0.isEmpty }, allowed: "a file holding the token") {
            configuration.security.actionToken = v
        }
        r.finish()
        merge(r)
    }

    private mutating func applyExperimental(_ r0: Reader) {
        var r = r0
        if let v = r.bool("predictive_alerting") { configuration.experimental.predictiveAlerting = v }
        if let v = r.number("prediction_window", above: 0, atMost: 604_800) { configuration.experimental.predictionWindow = v }
        if let v = r.number("trend_threshold", above: 0, atMost: 100) { configuration.experimental.trendThreshold = v }
        r.finish()
        merge(r)
    }

    private mutating func applyPerformance(_ r0: Reader) {
        var r = r0
        if let v = r.number("monitoring_overhead_limit_percent", above: 0, atMost: 100) {
            configuration.performance.monitoringOverheadLimitPercent = v
        }
        if let v = r.number("max_monitoring_time_seconds", above: 0, atMost: 3600) { configuration.performance.maxMonitoringTimeSeconds = v }
        _ = r.bool("async_processing")
        _ = r.bool("batch_processing")
        r.finish()
        merge(r)
    }

    private mutating func applyLogging(_ r0: Reader) {
        var r = r0
        if let v = r.string("level", nonEmpty: true) {
            if let level = Self.normalizedLogLevel(v) {
                configuration.logging.level = level
            } else {
                r.problem("level", value: "\"\(v)\"", allowed: "one of " + MonitorConfiguration.logLevels.joined(separator: ", "))
            }
        }
        if let v = r.string("file", nonEmpty: true) { configuration.logging.file = v }
        if let v = r.string("format", nonEmpty: true) {
            if v == "text" || v == "json" { configuration.logging.format = v } else { r.problem("format", value: "\"\(v)\"", allowed: "text or json") }
        }
        r.finish()
        merge(r)
    }

    // MARK: Environment and overrides

    /// Applies the SPEC §3 environment variables that are set.
    public mutating func apply(environment env: [String: String]) {
        if let v = env["MEMORY_HEALTH_PORT"] { setPort(v, name: "MEMORY_HEALTH_PORT") { $0.monitoring.healthPort = $1 } }
        if let v = env["PROMETHEUS_PORT"] { setPort(v, name: "PROMETHEUS_PORT") { $0.monitoring.prometheusPort = $1 } }
        if let v = env["MONITORING_LOG_LEVEL"] { setLogLevel(v, source: "MONITORING_LOG_LEVEL") }
        if let v = env["SLACK_WEBHOOK_URL"], !v.isEmpty {
            if Self.isHTTPURL(v) {
                configuration.alerting.slackWebhook = v
            } else {
                problems.append(ConfigurationProblem(keyPath: "SLACK_WEBHOOK_URL", value: "a value", allowed: "an http:// or https:// URL"))
            }
        }
        if let v = env["MEMORY_ACTION_TOKEN"], !v.isEmpty { configuration.security.actionToken = v }
        if let v = env["ALERT_EMAIL"], !v.isEmpty {
            if v.contains("@") {
                configuration.alerting.email = v
            } else {
                problems.append(ConfigurationProblem(keyPath: "ALERT_EMAIL", value: "\"\(v)\"", allowed: "an email address"))
            }
        }
    }

    /// Sets a port from text (environment variable or flag), recording a problem under `name`.
    /// `allowsAnyFreePort` accepts 0, which lets the kernel pick a port (the log names it).
    public mutating func setPort(
        _ text: String, name: String, allowsAnyFreePort: Bool = false, _ assign: (inout MonitorConfiguration, Int) -> Void
    ) {
        let lowest = allowsAnyFreePort ? 0 : 1
        if let port = Int(text), (lowest...65535).contains(port) {
            assign(&configuration, port)
        } else {
            problems.append(ConfigurationProblem(keyPath: name, value: "\"\(text)\"", allowed: "a port number from \(lowest) to 65535"))
        }
    }

    /// Sets the log level from text (environment variable or flag), recording a problem under `source`.
    public mutating func setLogLevel(_ text: String, source: String) {
        if let level = Self.normalizedLogLevel(text) {
            configuration.logging.level = level
        } else {
            problems.append(
                ConfigurationProblem(keyPath: source, value: "\"\(text)\"", allowed: "one of " + MonitorConfiguration.logLevels.joined(separator: ", ")))
        }
    }

    /// Records a problem found by the caller (a flag's value, say).
    public mutating func report(_ problem: ConfigurationProblem) { problems.append(problem) }

    /// Seconds between checks allowed by `monitoring.check_interval` and `--check-interval`.
    static let checkIntervalAllowed = "a number >= 0.1 and <= 86400"
    /// Below this a check loop burns a core for nothing: /proc does not change that fast.
    static let minimumCheckInterval = 0.1

    /// Sets the check interval from a flag, with the file's bounds.
    public mutating func setCheckInterval(_ seconds: Double, source: String) {
        if seconds >= Self.minimumCheckInterval && seconds <= 86_400 {
            configuration.monitoring.checkInterval = seconds
        } else {
            report(ConfigurationProblem(keyPath: source, value: JSONValue.format(seconds), allowed: Self.checkIntervalAllowed))
        }
    }

    /// Sets the cgroup directory from a flag, with the file's rule.
    public mutating func setCgroup(_ path: String, source: String) {
        if let allowed = Self.cgroupProblem(path) {
            report(ConfigurationProblem(keyPath: source, value: "\"\(path)\"", allowed: allowed))
        } else {
            configuration.monitoring.cgroup = path
        }
    }

    static func cgroupProblem(_ path: String) -> String? {
        path.hasPrefix("/") ? nil : "an absolute cgroup directory such as /sys/fs/cgroup/kubepods.slice/..."
    }

    /// Sets the target from flags (each nil when not given), with the file's rules: at most one,
    /// a positive pid, a pattern that compiles.
    public mutating func setTarget(pid: Int32?, pidfile: String?, processName: String?, processMatch: String?, sources: String) {
        var targets: [MonitoredTarget] = []
        if let pid {
            if pid > 0 { targets.append(.pid(pid)) } else { report(ConfigurationProblem(keyPath: "--pid", value: "\(pid)", allowed: "a process id > 0")) }
        }
        if let pidfile { targets.append(.pidfile(pidfile)) }
        if let processName { targets.append(.processName(processName)) }
        if let processMatch {
            if let problem = Self.patternProblem(processMatch) {
                report(ConfigurationProblem(keyPath: "--process-match", value: "\"\(processMatch)\"", allowed: "a regular expression (\(problem))"))
            } else {
                targets.append(.processMatch(processMatch))
            }
        }
        if targets.count > 1 {
            report(ConfigurationProblem(keyPath: sources, value: "\(targets.count) targets", allowed: "at most one"))
        } else if let target = targets.first {
            configuration.monitoring.target = target
        }
    }

    /// Why a `--process-match` / `monitoring.target.match` pattern is not a regular expression, or nil.
    public static func patternProblem(_ pattern: String) -> String? {
        do {
            _ = try Regex(pattern)
            return nil
        } catch {
            return "\(error)".split(separator: "\n").first.map(String.init) ?? "does not compile"
        }
    }

    /// Lower-cased level names; Python's "WARN"/"FATAL" spellings map to swift-log's.
    static func normalizedLogLevel(_ text: String) -> String? {
        let lower = text.lowercased()
        switch lower {
        case "warn": return "warning"
        case "fatal": return "critical"
        default: return MonitorConfiguration.logLevels.contains(lower) ? lower : nil
        }
    }

    /// A Prometheus label name.
    static func isLabelName(_ name: String) -> Bool {
        guard let first = name.utf8.first, !name.hasPrefix("__") else { return false }
        let isLetter = { (b: UInt8) in (b >= 0x41 && b <= 0x5A) || (b >= 0x61 && b <= 0x7A) || b == 0x5F }
        return isLetter(first) && name.utf8.allSatisfy { isLetter($0) || ($0 >= 0x30 && $0 <= 0x39) }
    }

    /// An RFC 9110 field name: one or more tchar.
    static func isHeaderName(_ name: String) -> Bool {
        !name.utf8.isEmpty && name.utf8.allSatisfy { b in
            (b >= 0x30 && b <= 0x39) || (b >= 0x41 && b <= 0x5A) || (b >= 0x61 && b <= 0x7A) || "!#$%&'*+-.^_`|~".utf8.contains(b)
        }
    }

    /// An RFC 9110 field value: visible bytes (and obs-text), spaces and tabs inside, none at the ends.
    package static func isHeaderValue(_ value: String) -> Bool {
        let bytes = Array(value.utf8)
        guard let first = bytes.first, let last = bytes.last else { return true }
        let isBlank = { (b: UInt8) in b == 0x20 || b == 0x09 }
        return !isBlank(first) && !isBlank(last) && bytes.allSatisfy { b in isBlank(b) || (b >= 0x21 && b != 0x7F) }
    }

    /// A host name (letters, digits, '-', '.') or an IPv4 or IPv6 address, as a `Host` header names
    /// it without port: what `server.allowed_hosts` lists.
    static func isHostName(_ text: String) -> Bool {
        guard !text.isEmpty, text.utf8.count <= 253 else { return false }
        if text.contains(":") {
            var address = in6_addr()
            return inet_pton(AF_INET6, text, &address) == 1
        }
        return text.utf8.allSatisfy { b in
            (b >= UInt8(ascii: "a") && b <= UInt8(ascii: "z")) || (b >= UInt8(ascii: "A") && b <= UInt8(ascii: "Z"))
                || (b >= UInt8(ascii: "0") && b <= UInt8(ascii: "9")) || b == UInt8(ascii: "-") || b == UInt8(ascii: ".")
        }
    }

    static func isHTTPURL(_ text: String) -> Bool {
        (text.hasPrefix("http://") || text.hasPrefix("https://")) && text.split(separator: "/").count >= 2 && !text.contains(" ")
    }

    static func crossChecks(_ c: MonitorConfiguration) -> [ConfigurationProblem] {
        var found: [ConfigurationProblem] = []
        func ordered(_ prefix: String, _ suffix: String, _ w: Double, _ cr: Double, _ e: Double) {
            if !(w < cr && cr < e) {
                found.append(
                    ConfigurationProblem(
                        keyPath: "thresholds.\(prefix)warning\(suffix), \(prefix)critical\(suffix), \(prefix)emergency\(suffix)",
                        value: "\(JSONValue.format(w)), \(JSONValue.format(cr)), \(JSONValue.format(e))",
                        allowed: "warning < critical < emergency"))
            }
        }
        let t = c.thresholds
        ordered("memory_", "_mb", t.memoryWarningMB, t.memoryCriticalMB, t.memoryEmergencyMB)
        ordered("memory_percent_", "", t.memoryPercentWarning, t.memoryPercentCritical, t.memoryPercentEmergency)
        ordered("swap_percent_", "", t.swapPercentWarning, t.swapPercentCritical, t.swapPercentEmergency)
        let g = c.autoResponse.gate
        if !(g.emergencyLimit <= g.criticalLimit && g.criticalLimit <= g.limit) {
            found.append(
                ConfigurationProblem(
                    keyPath: "auto_response.admission_gate.emergency_limit, critical_limit, limit",
                    value: "\(g.emergencyLimit), \(g.criticalLimit), \(g.limit)", allowed: "emergency_limit <= critical_limit <= limit"))
        }
        return found
    }

    private mutating func merge(_ reader: Reader) {
        problems += reader.problems
        unknownKeys += reader.unknownKeys
    }
}

extension ConfigurationLoader {
    /// Reads typed values out of one JSON object, recording problems under its key path.
    struct Reader {
        let object: JSONObject
        let path: String
        var problems: [ConfigurationProblem] = []
        var unknownKeys: [String] = []

        init(object: JSONObject, path: String) {
            self.object = object
            self.path = path
        }

        func keyPath(_ key: String) -> String { key.isEmpty ? path : (path.isEmpty ? key : "\(path).\(key)") }

        mutating func problem(_ key: String, value: String, allowed: String) {
            problems.append(ConfigurationProblem(keyPath: keyPath(key), value: value, allowed: allowed))
        }

        mutating func merge(_ child: Reader) {
            problems += child.problems
            unknownKeys += child.unknownKeys
        }

        /// The keys some accessor asked for: the ones the configuration knows.
        private var consumed: Set<String> = []

        /// Reports every key no accessor asked for as unknown: the accessors are the list of known keys.
        mutating func finish() {
            unknownKeys += object.keys.filter { !consumed.contains($0) }.map { keyPath($0) }
        }

        /// The value of a key, recording that the key is known.
        private mutating func take(_ key: String) -> JSONValue? {
            consumed.insert(key)
            return object[key]
        }

        private func describe(_ value: JSONValue) -> String {
            switch value {
            case .string(let s): "\"\(s)\""
            case .number, .bool, .null: value.serialized
            default: value.kindDescription
            }
        }

        mutating func section(_ key: String) -> Reader? {
            guard let value = take(key) else { return nil }
            guard case .object(let child) = value else {
                problem(key, value: describe(value), allowed: "an object")
                return nil
            }
            return Reader(object: child, path: keyPath(key))
        }

        mutating func number(_ key: String, above: Double? = nil, atLeast: Double? = nil, atMost: Double? = nil) -> Double? {
            guard let value = take(key) else { return nil }
            let range: String = {
                var parts: [String] = []
                if let above { parts.append("> \(JSONValue.format(above))") }
                if let atLeast { parts.append(">= \(JSONValue.format(atLeast))") }
                if let atMost { parts.append("<= \(JSONValue.format(atMost))") }
                return parts.isEmpty ? "a number" : "a number " + parts.joined(separator: " and ")
            }()
            guard case .number(let n) = value, n.isFinite else {
                problem(key, value: describe(value), allowed: range)
                return nil
            }
            let inRange = (above.map { n > $0 } ?? true) && (atLeast.map { n >= $0 } ?? true) && (atMost.map { n <= $0 } ?? true)
            guard inRange else {
                problem(key, value: describe(value), allowed: range)
                return nil
            }
            return n
        }

        mutating func integer(_ key: String, in range: ClosedRange<Int>) -> Int? {
            guard let value = take(key) else { return nil }
            let allowed = "a whole number from \(range.lowerBound) to \(range.upperBound)"
            guard case .number(let n) = value, n == n.rounded(), n >= Double(range.lowerBound), n <= Double(range.upperBound) else {
                problem(key, value: describe(value), allowed: allowed)
                return nil
            }
            return Int(n)
        }

        mutating func port(_ key: String) -> Int? {
            guard let value = take(key) else { return nil }
            guard case .number(let n) = value, n == n.rounded(), n >= 1, n <= 65535 else {
                problem(key, value: describe(value), allowed: "a port number from 1 to 65535")
                return nil
            }
            return Int(n)
        }

        mutating func bool(_ key: String) -> Bool? {
            guard let value = take(key) else { return nil }
            guard case .bool(let b) = value else {
                problem(key, value: describe(value), allowed: "true or false")
                return nil
            }
            return b
        }

        mutating func string(_ key: String, nonEmpty: Bool) -> String? {
            guard let value = take(key) else { return nil }
            guard case .string(let s) = value, !(nonEmpty && s.isEmpty) else {
                problem(key, value: describe(value), allowed: nonEmpty ? "a non-empty string" : "a string")
                return nil
            }
            return s
        }

        /// A string whose value is never echoed (a password).
        mutating func secret(_ key: String) -> String? {
            guard let value = take(key) else { return nil }
            guard case .string(let s) = value, !s.isEmpty else {
                problem(key, value: value.kindDescription, allowed: "a non-empty string")
                return nil
            }
            return s
        }

        /// A secret read from the file this key names (Kubernetes and Docker secrets): trailing line
        /// breaks are trimmed, as Alertmanager's `*_file` settings do. Problems name the key and the
        /// path, never the content. `instead` is the plain key it replaces (both set is a problem).
        mutating func secretFile(_ key: String, instead: String?, check: (String) -> Bool, allowed: String) -> String? {
            guard let path = string(key, nonEmpty: true) else { return nil }
            if let instead, object[instead] != nil {
                problem(key, value: "set", allowed: "either \(keyPath(instead)) or \(keyPath(key)), not both")
                return nil
            }
            let text: String
            switch FileSystem.readBytes(path, limit: 64 * 1024) {
            case .success(let bytes):
                guard let decoded = String(validating: bytes, as: UTF8.self) else {
                    problem(key, value: "\"\(path)\"", allowed: allowed + " (it is not UTF-8)")
                    return nil
                }
                text = decoded
            case .failure(let failure):
                problem(key, value: "\"\(path)\"", allowed: "a readable file (\(failure))")
                return nil
            }
            var trimmed = Substring(text)
            while let last = trimmed.last, last == "\n" || last == "\r" || last == "\r\n" { trimmed = trimmed.dropLast() }
            let value = String(trimmed)
            guard check(value) else {
                problem(key, value: "\"\(path)\"", allowed: allowed)
                return nil
            }
            return value
        }

        /// A URL; its value is never echoed, as webhook URLs carry secrets.
        mutating func url(_ key: String) -> String? {
            guard let value = take(key) else { return nil }
            guard case .string(let s) = value, ConfigurationLoader.isHTTPURL(s) else {
                problem(key, value: value.kindDescription, allowed: "an http:// or https:// URL")
                return nil
            }
            return s
        }

        /// Whether the key is present (without consuming it).
        func has(_ key: String) -> Bool { object[key] != nil }

        /// The key's value when it is a boolean; nil (nothing recorded) otherwise.
        mutating func boolIfBool(_ key: String) -> Bool? {
            guard case .bool(let b) = object[key] else { return nil }
            _ = take(key)
            return b
        }

        /// A command line: a non-empty array of strings whose first is an absolute path.
        mutating func argv(_ key: String) -> [String]? {
            guard let value = take(key) else { return nil }
            let allowed = "a non-empty array of strings whose first is an absolute path (run without a shell)"
            guard case .array(let items) = value, !items.isEmpty else {
                problem(key, value: describe(value), allowed: allowed)
                return nil
            }
            var argv: [String] = []
            for item in items {
                guard case .string(let s) = item else {
                    problem(key, value: describe(item), allowed: allowed)
                    return nil
                }
                argv.append(s)
            }
            guard argv[0].hasPrefix("/") else {
                problem(key, value: "\"\(argv[0])\"", allowed: allowed)
                return nil
            }
            return argv
        }

        /// A list of URLs; values are never echoed.
        mutating func urlArray(_ key: String) -> [String]? {
            guard let value = take(key) else { return nil }
            guard case .array(let items) = value else {
                problem(key, value: describe(value), allowed: "an array of http:// or https:// URLs")
                return nil
            }
            var urls: [String] = []
            for item in items {
                guard case .string(let s) = item, ConfigurationLoader.isHTTPURL(s) else {
                    problem(key, value: item.kindDescription, allowed: "an array of http:// or https:// URLs")
                    return nil
                }
                urls.append(s)
            }
            return urls
        }

        /// A list of host names or IP addresses, without scheme, port or path.
        mutating func hostArray(_ key: String) -> [String]? {
            strings(key, allowed: "an array of host names or IP addresses, without scheme, port or path (\"monitor.example.com\", \"10.0.0.5\", \"fd00::5\")") {
                ConfigurationLoader.isHostName($0) ? $0.lowercased() : nil
            }
        }

        mutating func stringArray(_ key: String, allowed: [String]) -> [String]? {
            strings(key, allowed: "an array of channel names from: " + allowed.joined(separator: ", ")) { allowed.contains($0) ? $0 : nil }
        }

        /// An array of strings, each kept as `element` returns it (nil refuses the whole key), without repeats.
        private mutating func strings(_ key: String, allowed: String, _ element: (String) -> String?) -> [String]? {
            guard let value = take(key) else { return nil }
            guard case .array(let items) = value else {
                problem(key, value: describe(value), allowed: allowed)
                return nil
            }
            var result: [String] = []
            for item in items {
                guard case .string(let s) = item, let kept = element(s) else {
                    problem(key, value: describe(item), allowed: allowed)
                    return nil
                }
                if !result.contains(kept) { result.append(kept) }
            }
            return result
        }
    }
}
