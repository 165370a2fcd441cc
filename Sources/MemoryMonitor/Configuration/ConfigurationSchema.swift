/// Every configuration key, declared once (see `ConfigurationKey`). The order is the order of the
/// docs tables and of reading (a key that checks another, as `webhook_header_files` checks
/// `webhook_headers`, comes after it).
package enum ConfigurationSchema {
    package static let keys: [ConfigurationKey] = monitoring + thresholds + alerting + autoResponse + server + security + experimental + performance
        + logging

    /// The key with this path.
    package static func key(_ path: String) -> ConfigurationKey? { keys.first { $0.path == path } }

    /// The sections keys live in, parents before children (`monitoring` before `monitoring.target`).
    package static let sections: [String] = {
        var found: [String] = []
        for key in keys {
            var parent = key.parentAndName.parent
            var chain: [String] = []
            while !parent.isEmpty {
                chain.insert(parent, at: 0)
                parent = parent.lastIndex(of: ".").map { String(parent[..<$0]) } ?? ""
            }
            for section in chain where !found.contains(section) { found.append(section) }
        }
        return found
    }()

    // MARK: monitoring

    static let monitoring: [ConfigurationKey] = [
        .stored(
            "monitoring.check_interval", \.monitoring.checkInterval,
            .number(atLeast: ConfigurationLoader.minimumCheckInterval, atMost: 86_400), .live, flag: "--check-interval",
            "Seconds between checks (fractions allowed; below 0.1 s a check loop only burns CPU)."),
        .stored(
            "monitoring.enable_tracemalloc", \.monitoring.traceAllocations, .bool, .restart,
            "With a Python target that runs the runtime agent ([python-agent.md](python-agent.md)): the agent traces allocations with `tracemalloc` from when the monitor finds it, so a leak profile also sees allocations older than the episode (each site's `size_bytes`); off, it traces only during a profile. Measured cost of each mode: [benchmarks.md](benchmarks.md#tracemalloc-in-the-service). The SPEC's example sets it true. Without an agent it has no effect (before this release it switched the monitor's own allocator statistics: now `allocator_statistics`)."
        ),
        .stored(
            "monitoring.allocator_statistics", \.monitoring.collectAllocatorStatistics, .bool, .restart, new: true,
            "Collect the monitor's own allocator statistics (`mallinfo2`: `memory_allocator_bytes`, `/health/memory` `monitor_heap_bytes`)."),
        .stored("monitoring.prometheus_port", \.monitoring.prometheusPort, .port, .restart, env: "PROMETHEUS_PORT", flag: "--prometheus-port", "Port of `/metrics`."),
        .stored(
            "monitoring.health_port", \.monitoring.healthPort, .port, .restart, new: true, env: "MEMORY_HEALTH_PORT", flag: "--health-port",
            "Port of the health API; may equal `prometheus_port` (one listener then serves every route)."),
        .stored(
            "monitoring.listen_address", \.monitoring.listenAddress, .string(), .restart, new: true, flag: "--listen-address",
            "Address both listeners bind."),
        .stored(
            "monitoring.history_size", \.monitoring.historySize, .integer(1...100_000), .restart,
            "Samples kept for `/health/metrics/history` (a response lists at most 5000 points, the newest; `truncated` says when older ones were left out)."),
        .stored(
            "monitoring.scrape_max_age_seconds", \.monitoring.scrapeMaxAge, .number(atLeast: 0, atMost: 3600), .restart, new: true,
            "A scrape that finds the last check older than this waits for a new check (shared by concurrent scrapes)."),
        .stored(
            "monitoring.pss_refresh_seconds", \.monitoring.pssRefreshSeconds, .number(atLeast: 0, atMost: 86_400), .restart, new: true,
            "How long a Pss reading is reused: reading `smaps_rollup` walks every mapping of the process and costs more than the rest of a check; 0 reads it every sample."),
        .stored(
            "monitoring.pss_budget_seconds", \.monitoring.pssBudgetSeconds, .number(atLeast: 0, atMost: 60), .restart, new: true,
            "Time one check may spend reading `smaps_rollup` (Pss), which takes the target's mmap lock and grows with its mappings (seconds for a process of hundreds of GB). At least one process is read per check; past the budget the rest of a group is read at the next checks (the last reading stands in for one read before; a process never read leaves Pss `null` with the reason). Capped at half of `performance.max_monitoring_time_seconds`. Deferred reads are counted in `memory_pss_skipped_total`. One read in progress cannot be interrupted: a single huge process can still exceed the budget once per `pss_refresh_seconds`."
        ),
        target(
            "pid", .integer(1...Int(Int32.max)), flag: "--pid", make: { .pid(Int32($0)) },
            project: { if case .pid(let p) = $0 { Int(p) } else { nil } },
            "Monitor this process: the pid with the start time it had when first seen. If the process exits and the kernel gives the pid to another process, the target is gone (never the newcomer)."
        ),
        target(
            "pidfile", .string("path"), flag: "--pidfile", make: { .pidfile($0) }, project: { if case .pidfile(let p) = $0 { p } else { nil } },
            "Monitor the process whose id this file holds (re-read each check). A new pid or start time is a new target: logged, counted in `memory_target_changes_total`, per-process caches reset."
        ),
        target(
            "process_name", .string(), flag: "--process-name", make: { .processName($0) },
            project: { if case .processName(let p) = $0 { p } else { nil } },
            "Monitor the process with this name (comm, or argv[0]'s basename for names over 15 characters; lowest live pid wins, a zombie or exiting process of the name is passed over; the monitor itself and its ancestors, such as a `timeout` or `sh -c` it runs under, never match)."
        ),
        target(
            "match", pattern, flag: "--process-match", make: { .processMatch($0) }, project: { if case .processMatch(let p) = $0 { p } else { nil } },
            "Monitor every process whose full command line (arguments joined by spaces) matches, anywhere in the line, as one group: RSS, Pss, swap, threads and descriptors are summed, `memory_target_processes` counts the members, `/health/memory` lists their pids. Like process-exporter's name groups, one group per monitor. `python3 crawler\\.py` picks a Python crawler that `process_name` (comm `python3`) cannot. The monitor itself and its ancestors never match: a wrapper it runs under (`timeout`, `sh -c`, `tini`, `sudo`) holds the pattern in its own command line. At most one `target` key."
        ),
        .stored(
            "monitoring.pressure_trigger", \.monitoring.pressureTrigger, pressureTrigger, .restart, new: true,
            default: "`some 200000 2000000`",
            "A PSI trigger on the target cgroup's `memory.pressure` (cgroup v2) or the host's `/proc/pressure/memory`: when tasks stall on memory longer than the stall within the window, a check runs at once (at most one a second), so a spike between checks is seen within a second. Where the kernel refuses it (permissions, no PSI, a window the kernel does not allow: some kernels want a 2 s multiple), checks stay on the interval and `/health/memory` `pressure_trigger` says why."
        ),
        .optional(
            "monitoring.cgroup", \.monitoring.cgroup, cgroupDirectory, .restart, new: true, flag: "--cgroup",
            "Read this cgroup directory (v2 files first, else v1) for the limit, usage and OOM kills instead of resolving the target's from `/proc/PID/cgroup`: for a sidecar that knows its target's cgroup, or a target in another cgroup namespace."
        ),
        .stored(
            "monitoring.leak_detection.enabled", \.monitoring.leakDetection.enabled, .bool, .live,
            "Detect leak episodes ([leak-detection.md](leak-detection.md)): `memory_leak` alerts and `memory_leaks_detected_total`. The growth gauges are exported either way."
        ),
        .stored(
            "monitoring.leak_detection.threshold_growth_rate", \.monitoring.leakDetection.thresholdGrowthRate, .number(above: 0, atMost: 100), .live,
            "Least relative growth over one window that counts as a leak (0.1 = 10 %)."),
        .stored(
            "monitoring.leak_detection.monitoring_window", \.monitoring.leakDetection.monitoringWindow, .number(above: 0, atMost: 604_800), .live,
            "Seconds of checks the fit covers (leak rule and prediction)."),
        .stored(
            "monitoring.leak_detection.peak_lookback_seconds", \.monitoring.leakDetection.peakLookbackSeconds, .number(atLeast: 0, atMost: 604_800), .live,
            new: true,
            "How far back a level the target has reached counts: growth raises a `memory_leak` or `memory_trend` alert only once it passes every level of this span before the window (by half of one window's growth), so a daily cycle's morning rise, or a sawtooth's next tooth, is not a leak when it only climbs back to where it has been. The cost: a leak that starts below such a level is reported once it passes it (threshold alerts are not affected). 0: no such guard. [leak-detection.md](leak-detection.md#past-where-it-has-been)"
        ),
        .stored(
            "monitoring.leak_detection.severity", \.monitoring.leakDetection.severity, severity, .live, new: true, "Severity of `memory_leak` alerts."),
        .stored(
            "monitoring.leak_detection.profile", \.monitoring.leakDetection.profile, .bool, .live, new: true,
            "Profile allocation sites through the target's runtime agent when a leak episode starts. tracemalloc slows allocation-heavy Python code many times over while it traces (measured: [benchmarks.md](benchmarks.md#tracemalloc-in-the-service)); false keeps leak alerts without sites. `POST /health/actions/profile` works either way."
        ),
        .stored(
            "monitoring.leak_detection.profile_seconds", \.monitoring.leakDetection.profileSeconds, .number(atLeast: 1, atMost: 3600), .live, new: true,
            "When a leak episode starts and the target's runtime agent answers ([python-agent.md](python-agent.md)), the agent traces allocations (tracemalloc) this long; the leak alert is then updated (same id) with the top three sites, and `GET /health/leaks` lists them."
        ),
        .stored(
            "monitoring.leak_detection.profile_sites", \.monitoring.leakDetection.profileSites, .integer(1...100), .live, new: true,
            "Allocation sites a profile keeps, and at most this many `memory_leak_site_growth_bytes` series."),
        .stored(
            "monitoring.leak_detection.profile_depth", \.monitoring.leakDetection.profileDepth, .integer(1...64), .live, new: true,
            "Frames of each site's traceback (tracemalloc's traceback limit when the profile starts tracing)."),
        .stored(
            "monitoring.agent.enabled", \.monitoring.agent.enabled, .bool, .restart, new: true,
            "Look for the target's runtime agent ([python-agent.md](python-agent.md)) at each check. Found without configuration: the agent's Unix socket is among the sockets the target holds open (`/proc/PID/fd`, `/proc/PID/net/unix`). With an agent, `/health/memory` `gc_objects` and `gc_collections` are the target's Python collector, and the clean-up actions run inside the target."
        ),
        .stored(
            "monitoring.agent.timeout_seconds", \.monitoring.agent.timeoutSeconds, .number(atLeast: 0.01, atMost: 10), .restart, new: true,
            "The longest a check waits for an agent's report; a hung agent is reported as down (`memory_target_agent_up` 0) and costs each check at most this."
        ),
        .optional(
            "monitoring.agent.socket", \.monitoring.agent.socket, .string("absolute path"), .restart, new: true,
            "The agent's socket, as the monitor reaches it, instead of discovering it."),
        .optional(
            "monitoring.agent.socket_dir", \.monitoring.agent.socketDirectory, .string("absolute path"), .restart, new: true,
            "The monitor's mount of a directory it shares with the target (a Kubernetes `emptyDir` the agent's `MEMORY_MONITOR_AGENT_DIR` points at): a discovered socket is reached here when `/proc/PID/root` is not permitted."
        ),
    ]

    static let pattern = ValueKind<String>(
        allowed: "regular expression",
        read: { reader, name in
            guard let v = reader.string(name, nonEmpty: true) else { return nil }
            if let problem = ConfigurationLoader.patternProblem(v) {
                reader.problem(name, value: "\"\(v)\"", allowed: "a regular expression (\(problem))")
                return nil
            }
            return v
        }, show: { "`\($0)`" }, samples: [.string("python3 crawler\\.py")])

    static let cgroupDirectory = ValueKind<String>(
        allowed: "absolute path",
        read: { reader, name in
            guard let v = reader.string(name, nonEmpty: true) else { return nil }
            if let allowed = ConfigurationLoader.cgroupProblem(v) {
                reader.problem(name, value: "\"\(v)\"", allowed: allowed)
                return nil
            }
            return v
        }, show: { "`\($0)`" }, samples: [.string("/sys/fs/cgroup/sample.slice")])

    static let pressureTrigger = ValueKind<String?>(
        allowed: "`some|full STALL_µs WINDOW_µs` (window 0.5–10 s, stall below it), or `off`",
        read: { reader, name in
            guard let v = reader.string(name, nonEmpty: true) else { return nil }
            if v == "off" { return .some(nil) }
            if let problem = PressureTrigger.specProblem(v) {
                reader.problem(name, value: "\"\(v)\"", allowed: problem)
                return nil
            }
            return .some(v)
        }, show: { $0.map { "`\($0)`" } ?? "`off`" }, samples: [.string("off"), .string("full 100000 1000000")])

    static let severity = ValueKind<Severity>(
        allowed: "`warning`, `critical`, `emergency`",
        read: { reader, name in
            guard let v = reader.string(name, nonEmpty: true) else { return nil }
            guard let severity = Severity.alerting.first(where: { $0.description == v }) else {
                reader.problem(name, value: "\"\(v)\"", allowed: "one of warning, critical, emergency")
                return nil
            }
            return severity
        }, show: { "`\($0)`" }, samples: [.string("critical"), .string("emergency")])

    /// One of the four `monitoring.target` keys. They share one property; each compares only its
    /// own kind of target, so a reload names the key that changed.
    static func target<T: Equatable & Sendable>(
        _ name: String, _ kind: ValueKind<T>, flag: String, make: @escaping @Sendable (T) -> MonitoredTarget,
        project: @escaping @Sendable (MonitoredTarget) -> T?, _ doc: String
    ) -> ConfigurationKey {
        var key = ConfigurationKey(
            path: "monitoring.target." + name, reload: .restart, allowed: kind.allowed, defaultText: "—", doc: doc, isNew: true, environment: nil,
            flag: flag, fileVariant: false, table: .main, row: nil, samples: kind.samples,
            read: { reader, key, configuration in
                if let value = kind.read(&reader, key) { configuration.monitoring.target = make(value) }
            },
            differs: { project($0.monitoring.target) != project($1.monitoring.target) },
            adopt: { old, new in
                if project(new.monitoring.target) != nil || project(old.monitoring.target) != nil { old.monitoring.target = new.monitoring.target }
            })
        key.takesNumber = kind.takesNumber
        return key
    }

    /// The keys of `monitoring.target`: at most one may be given.
    static let targetKeys = ["pid", "pidfile", "process_name", "match"]

    // MARK: thresholds

    static let thresholds: [ConfigurationKey] = {
        func three(
            _ prefix: String, _ suffix: String, _ kind: ValueKind<Double>, _ properties: [WritableKeyPath<MonitorConfiguration, Double>],
            allowed: String, _ doc: String
        ) -> [ConfigurationKey] {
            zip(["warning", "critical", "emergency"], properties).map { level, property in
                let key = ConfigurationKey.stored(
                    "thresholds.\(prefix)\(level)\(suffix)", property, kind, .live, new: prefix == "swap_percent_",
                    row: "thresholds.\(prefix)warning\(suffix)` / `_critical\(suffix)` / `_emergency\(suffix)", doc)
                return ConfigurationKey(
                    path: key.path, reload: key.reload, allowed: allowed, defaultText: key.defaultText, doc: key.doc, isNew: key.isNew,
                    environment: nil, flag: nil, fileVariant: false, table: .main, row: key.row, samples: key.samples, read: key.read,
                    differs: key.differs, adopt: key.adopt)
            }
        }
        return three(
            "memory_", "_mb", .number(above: 0), [\.thresholds.memoryWarningMB, \.thresholds.memoryCriticalMB, \.thresholds.memoryEmergencyMB],
            allowed: "> 0, increasing", "RSS of the monitored process, MiB (`process_memory`).")
            + three(
                "memory_percent_", "", .number(above: 0, atMost: 100),
                [\.thresholds.memoryPercentWarning, \.thresholds.memoryPercentCritical, \.thresholds.memoryPercentEmergency],
                allowed: "0–100, increasing", "Memory in use, percent of the effective limit (`system_memory`).")
            + three(
                "swap_percent_", "", .number(above: 0, atMost: 100),
                [\.thresholds.swapPercentWarning, \.thresholds.swapPercentCritical, \.thresholds.swapPercentEmergency],
                allowed: "0–100, increasing", "Host swap in use, percent (`swap_memory`).")
    }()

    // MARK: alerting

    static let alerting: [ConfigurationKey] = [
        .optional(
            "alerting.webhook_url", \.alerting.webhookURL, .url, .restart, file: true,
            "Generic webhook: POSTs SPEC §7's JSON. Never echoed in errors or logs."),
        headers,
        headerFiles,
        .optional(
            "alerting.slack_webhook", \.alerting.slackWebhook, .url, .restart, env: "SLACK_WEBHOOK_URL", file: true, "Slack incoming webhook."),
        .optional(
            "alerting.alertmanager_url", \.alerting.alertmanagerURL, .url, .restart, new: true, "Alertmanager base URL; alerts go to `/api/v2/alerts`."),
        .stored(
            "alerting.alertmanager_urls", \.alerting.alertmanagerURLs, .urls, .restart, new: true,
            "More Alertmanagers (an HA cluster): every alert goes to each, with its own queue (`alertmanager`, `alertmanager-2`, ... in metrics), as Prometheus does."
        ),
        .stored(
            "alerting.job", \.alerting.job, .string(), .restart, new: true,
            "The `job` label of alerts sent to Alertmanager: the bundled scrape job, so the exporter's alert and the rules' alert for one condition carry the same labels and Alertmanager holds one alert (and `inhibit_rules` work across both)."
        ),
        externalLabels,
        .optional("alerting.email", \.alerting.email, email, .restart, new: true, env: "ALERT_EMAIL", "Email recipients."),
        .optional("alerting.smtp.host", \.alerting.smtp.host, .string("host"), .restart, new: true, "SMTP submission server."),
        .stored("alerting.smtp.port", \.alerting.smtp.port, .port, .restart, new: true, "SMTP submission port."),
        .optional(
            "alerting.smtp.username", \.alerting.smtp.username, .string(), .restart, new: true,
            "AUTH PLAIN (or LOGIN when that is all the server offers)."),
        .optional("alerting.smtp.password", \.alerting.smtp.password, .secret, .restart, new: true, file: true, "The password; never echoed."),
        .stored("alerting.smtp.from", \.alerting.smtp.from, .string("address"), .restart, new: true, "Envelope and header sender."),
        .stored("alerting.smtp.starttls", \.alerting.smtp.startTLS, .bool, .restart, new: true, "Require STARTTLS before AUTH and the message."),
        .stored(
            "alerting.smtp.insecure_skip_verify", \.alerting.smtp.insecureSkipVerify, .bool, .restart, new: true,
            "Accept any server certificate (self-signed relays)."),
        .stored(
            "alerting.rate_limit_seconds", \.alerting.rateLimitSeconds, .number(atLeast: 0, atMost: 604_800), .live,
            "Seconds between similar alerts (same component and severity), and the window of flap control: a level that fires again within it after it resolved or fell is not sent again (the open alert is updated; it goes out once the window has passed if the level still holds). An escalation to a level not sent within it goes out at once; so does an emergency while `auto_response.emergency_actions.send_immediate_alert` is true, unless it is such a re-fire. Held alerts are counted in `memory_alerts_suppressed_total{reason}`."
        ),
    ] + Severity.alerting.map(channels) + [
        .stored(
            "alerting.flap_threshold", \.alerting.flapThreshold, .integer(2...1000), .live, new: true,
            "A component whose level changes more than this many times within `rate_limit_seconds` is flapping (a fire at the open alert's level, such as a trend alert's new time, is no change): one notice says so (`FLAPPING: ...`), then its changes are held (`memory_alerts_suppressed_total{reason=\"flapping\"}`) until it keeps one level for `flap_stable_seconds`; then its state goes out if it differs from what was last sent."
        ),
        .stored(
            "alerting.flap_stable_seconds", \.alerting.flapStableSeconds, .number(atLeast: 0, atMost: 86_400), .live, new: true,
            "How long a flapping component must keep one level before it is reported again."),
        .stored(
            "alerting.hysteresis_percent", \.alerting.hysteresisPercent, .number(atLeast: 0, atMost: 50), .live, new: true,
            "A level clears only when the value falls this many percent below its threshold."),
        .stored(
            "alerting.for_checks", \.alerting.forChecks, .integer(1...1000), .live, new: true,
            "Consecutive checks a higher level must hold before it fires."),
        .optional(
            "alerting.instance", \.alerting.instance, .string(), .restart, new: true, default: "`<host name>:<prometheus_port>`",
            "The `instance` alerts name: by default what a scrape of this host's metrics port calls it (in the bundled compose stack, `memory-monitor:9091`)."
        ),
        .stored(
            "alerting.delivery_timeout_seconds", \.alerting.deliveryTimeoutSeconds, .number(above: 0, atMost: 300), .restart, new: true,
            "One delivery attempt's timeout."),
        .stored(
            "alerting.max_delivery_seconds", \.alerting.maxDeliverySeconds, .number(above: 0, atMost: 604_800), .restart, new: true,
            "An alert still failing after this long is dropped (counted, logged)."),
        .stored(
            "alerting.queue_capacity", \.alerting.queueCapacity, .integer(1...1_000_000), .restart, new: true,
            "Alerts waiting per channel; beyond it the oldest is dropped (counted, logged)."),
        .stored(
            "alerting.max_retry_interval_seconds", \.alerting.maxRetryIntervalSeconds, .number(atLeast: 0.5, atMost: 3600), .restart, new: true,
            "Backoff doubles from 0.5 s (with jitter) up to this."),
        .stored(
            "alerting.alertmanager_resend_seconds", \.alerting.alertmanagerResendSeconds, .number(above: 0, atMost: 86_400), .restart, new: true,
            "Active alerts are re-sent to Alertmanager this often."),
        .stored(
            "alerting.history_hours", \.alerting.historyHours, .number(atLeast: 24, atMost: 8760), .restart, new: true,
            "Alert history kept (also bounded to 10000 alerts)."),
        .optional(
            "alerting.state_dir", \.alerting.stateDirectory, .string("path"), .restart, new: true, flag: "--state-dir",
            "Journal of undelivered alerts and history, replayed at start."),
        .stored(
            "alerting.shutdown_grace_seconds", \.alerting.shutdownGraceSeconds, .number(atLeast: 0, atMost: 300), .restart, new: true,
            "On SIGTERM, pending deliveries get this long; the rest stay in the state directory (or are counted as dropped without one)."),
    ]

    static let email = ValueKind<String>(
        allowed: "addresses, comma-separated",
        read: { reader, name in
            guard let v = reader.string(name, nonEmpty: true) else { return nil }
            guard v.contains("@") else {
                reader.problem(name, value: "\"\(v)\"", allowed: "an email address")
                return nil
            }
            return v
        }, show: { $0 }, samples: [.string("oncall@127.0.0.1")])

    /// `alerting.alert_levels.<level>.channels`: also remembers the channels listed explicitly
    /// (a listed channel without a destination is warned about at start).
    static func channels(_ level: Severity) -> ConfigurationKey {
        let name = level.description
        let allowed = MonitorConfiguration.channelNames
        let defaults = MonitorConfiguration().alerting.channels[name] ?? []
        return ConfigurationKey(
            path: "alerting.alert_levels.\(name).channels", reload: .live, allowed: allowed.map { "`\($0)`" }.joined(separator: ", "),
            defaultText: "`[" + defaults.joined(separator: ", ") + "]`",
            doc: "Channels per level. A channel without a destination is skipped (with a warning at start when listed here). Custom handlers get every alert.",
            isNew: false, environment: nil, flag: nil, fileVariant: false, table: .main,
            row: "alerting.alert_levels.{warning,critical,emergency}.channels", samples: [.array([.string("log")])],
            read: { reader, key, configuration in
                guard let channels = reader.stringArray(key, allowed: allowed) else { return }
                configuration.alerting.channels[name] = channels
                configuration.alerting.explicitlyListedChannels.formUnion(channels)
            },
            differs: { $0.alerting.channels[name] != $1.alerting.channels[name] },
            adopt: { old, new in
                old.alerting.channels[name] = new.alerting.channels[name]
                old.alerting.explicitlyListedChannels = new.alerting.explicitlyListedChannels
            })
    }

    static let externalLabels = ConfigurationKey(
        path: "alerting.external_labels", reload: .restart, allowed: "label name → value", defaultText: "`{\"monitor\": \"memory-monitor\"}`",
        doc: "Added to alerts sent to Alertmanager, as Prometheus adds its `external_labels` (the bundled prometheus.yml's by default). `alertname`, `severity`, `component`, `instance`, `job` are refused.",
        isNew: true, environment: nil, flag: nil, fileVariant: false, table: .main, row: nil, samples: [.object(["team": .string("sre")])],
        read: { reader, key, configuration in
            guard var l = reader.section(key) else { return }
            var labels: [String: String] = [:]
            for name in l.object.keys.sorted() {
                guard ConfigurationLoader.isLabelName(name) else {
                    l.problem(name, value: "a label name", allowed: "a Prometheus label name ([a-zA-Z_][a-zA-Z0-9_]*, not starting with __)")
                    continue
                }
                if let value = l.string(name, nonEmpty: true) { labels[name] = value }
            }
            for reserved in ["alertname", "severity", "component", "instance", "job"] where labels[reserved] != nil {
                l.problem(reserved, value: "set", allowed: "a label other than alertname, severity, component, instance and job")
                labels[reserved] = nil
            }
            l.finish()
            reader.merge(l)
            configuration.alerting.externalLabels = labels
        },
        differs: { $0.alerting.externalLabels != $1.alerting.externalLabels },
        adopt: { $0.alerting.externalLabels = $1.alerting.externalLabels })

    static let headerNameRule = "an HTTP field name (letters, digits and !#$%&'*+-.^_`|~)"

    static let headers = ConfigurationKey(
        path: "alerting.webhook_headers", reload: .restart, allowed: "object of strings", defaultText: "{}",
        doc: "Extra headers for the webhook (e.g. `Authorization`). Values never echoed.", isNew: true, environment: nil, flag: nil,
        fileVariant: false, table: .main, row: nil, samples: [.object(["X-Sample": .string("1")])],
        read: { reader, key, configuration in
            guard var h = reader.section(key) else { return }
            for name in h.object.keys.sorted() {
                // Header values are often tokens: never echoed. Checked as bytes (RFC 9110): a
                // Swift Character "\r\n" is one grapheme, so contains("\n") would miss it.
                if !ConfigurationLoader.isHeaderName(name) {
                    h.problem(name, value: "a header name", allowed: headerNameRule)
                } else if case .string(let value) = h.object[name]!, ConfigurationLoader.isHeaderValue(value) {
                    configuration.alerting.webhookHeaders[name] = value
                } else {
                    h.problem(
                        name, value: h.object[name]!.kindDescription,
                        allowed: "a string of visible characters, spaces and tabs (no line breaks or control characters, no leading or trailing space)")
                }
            }
            reader.merge(h)
        },
        differs: { $0.alerting.webhookHeaders != $1.alerting.webhookHeaders },
        adopt: { $0.alerting.webhookHeaders = $1.alerting.webhookHeaders })

    /// `webhook_header_files.<Header>`: the `_file` form of `webhook_headers`, for each header.
    /// Its value lands in `webhook_headers`, whose key reports a reload.
    static let headerFiles = ConfigurationKey(
        path: "alerting.webhook_header_files", reload: .restart, allowed: "object of paths", defaultText: "{}",
        doc: "`<Header>`: a file holding that header's value, instead of `webhook_headers.<Header>` (see \"Secrets from files\").", isNew: true,
        environment: nil, flag: nil, fileVariant: false, table: .main, row: nil, samples: [],
        read: { reader, key, configuration in
            guard var h = reader.section(key) else { return }
            for name in h.object.keys.sorted() {
                if !ConfigurationLoader.isHeaderName(name) {
                    h.problem(name, value: "a header name", allowed: headerNameRule)
                } else if configuration.alerting.webhookHeaders[name] != nil {
                    h.problem(name, value: "set", allowed: "either webhook_headers.\(name) or webhook_header_files.\(name), not both")
                } else if let value = h.secretFile(
                    name, instead: nil, check: ConfigurationLoader.isHeaderValue, allowed: "a file holding a header value (no control characters)")
                {
                    configuration.alerting.webhookHeaders[name] = value
                }
            }
            h.finish()
            reader.merge(h)
        },
        differs: { _, _ in false }, adopt: { _, _ in })

    // MARK: auto_response

    static let autoResponse: [ConfigurationKey] = [
        .stored(
            "auto_response.enabled", \.autoResponse.enabled, .bool, .live, table: .autoResponse, "Run actions at all. The gate stays at `limit` when false."),
        .stored(
            "auto_response.dry_run", \.autoResponse.dryRun, .bool, .live, new: true, table: .autoResponse,
            "Log and record each action as `dry_run` (\"would send SIGUSR1 to pid 4242\"); run nothing, change no gate limit, count no restart."),
        .stored(
            "auto_response.cooldown_seconds", \.autoResponse.cooldownSeconds, .number(atLeast: 0, atMost: 86_400), .live, new: true,
            table: .autoResponse,
            "Least time between two runs of one action at one level. While a level holds, its actions run again once their cooldown has passed (as monit does each cycle), but never more than one round per check interval (see \"One round at a time\")."
        ),
        .stored(
            "auto_response.settle_seconds", \.autoResponse.settleSeconds, .number(atLeast: 0, atMost: 600), .live, new: true, table: .autoResponse,
            "After an action that asks the target (`signal`, `http_hook`, `command`, `restart`), wait this long, then take a fresh check and measure. In-process actions are measured right after they return."
        ),
        .stored(
            "auto_response.action_timeout_seconds", \.autoResponse.actionTimeoutSeconds, .number(above: 0, atMost: 3600), .live, new: true,
            table: .autoResponse,
            "An `http_hook`, a `command` or a prepare-for-restart hook still running after this is given up (a command gets SIGTERM, then SIGKILL a second later) and recorded as `failed`."
        ),
    ] + levelActions + [
        .stored(
            "auto_response.emergency_actions.send_immediate_alert", \.alerting.emergencyBypassesRateLimit, .bool, .live, table: .autoResponse,
            "Emergencies skip `alerting.rate_limit_seconds`."),
        .stored(
            "auto_response.admission_gate.limit", \.autoResponse.gate.limit, .integer(1...1_000_000), .live, new: true, table: .autoResponse,
            "Operations admitted at once while healthy or at warning."),
        .stored(
            "auto_response.admission_gate.critical_limit", \.autoResponse.gate.criticalLimit, .integer(1...1_000_000), .live, new: true,
            table: .autoResponse, "The limit with `throttle_operations`; at most `limit`."),
        .stored(
            "auto_response.admission_gate.emergency_limit", \.autoResponse.gate.emergencyLimit, .integer(1...1_000_000), .live, new: true,
            table: .autoResponse, "The limit with `emergency_throttle`; at most `critical_limit`."),
        .stored(
            "auto_response.admission_gate.max_waiting", \.autoResponse.gate.maxWaiting, .integer(0...10_000_000), .live, new: true,
            table: .autoResponse, "Callers that may wait; one more is rejected (`AdmissionGate.Rejected`, counted)."),
    ]

    typealias LevelProperty = WritableKeyPath<MonitorConfiguration, MonitorConfiguration.LevelActions>

    /// The keys of `warning_actions`, `critical_actions` and `emergency_actions`: one docs row each,
    /// for the three levels.
    static let levelActions: [ConfigurationKey] = {
        let levels: [(String, LevelProperty)] = [
            ("warning", \.autoResponse.warning), ("critical", \.autoResponse.critical), ("emergency", \.autoResponse.emergency),
        ]
        func each<T: Equatable & Sendable>(
            _ name: String, _ field: WritableKeyPath<MonitorConfiguration.LevelActions, T>, _ kind: ValueKind<T>, new: Bool = false,
            _ doc: String
        ) -> [ConfigurationKey] {
            levels.map { level, property in
                .stored(
                    "auto_response.\(level)_actions.\(name)", property.appending(path: field), kind, .live, new: new, table: .autoResponse,
                    row: "auto_response.<level>_actions.\(name)", doc)
            }
        }
        let cleanup = NamedSignal.cleanupSignals.map(\.name)
        let signal = ValueKind<NamedSignal>(
            allowed: cleanup.map { "`\($0)`" }.joined(separator: ", ") + " (the `SIG` prefix is optional)",
            read: { reader, name in
                guard let v = reader.string(name, nonEmpty: true) else { return nil }
                guard let signal = NamedSignal.named(v, in: NamedSignal.cleanupSignals) else {
                    reader.problem(name, value: "\"\(v)\"", allowed: "one of " + cleanup.joined(separator: ", "))
                    return nil
                }
                return signal
            }, show: { "`\($0.name)`" }, samples: [.string("SIGUSR2")])
        let argv = ValueKind<[String]>(
            allowed: "array of strings, the first an absolute path", read: { $0.argv($1) }, show: { $0.joined(separator: " ") },
            samples: [.array([.string("/bin/true")])])
        return each("force_gc", \.forceGC, .bool, "In-process: `malloc_trim`. Sidecar: ask the target (see above).")
            + each("multiple_gc_cycles", \.gcCycles, .integer(1...100), "How many times `force_gc` trims.")
            + each("clear_caches", \.clearCaches, .bool, "Cache clearers of normal priority.")
            + each("clear_all_caches", \.clearAllCaches, .bool, "Every cache clearer, `.important` ones included.")
            + each(
                "throttle_operations", \.throttle, .bool, "The admission gate shrinks to `admission_gate.critical_limit` while this level holds.")
            + each(
                "emergency_throttle", \.emergencyThrottle, .bool,
                "The gate shrinks to `admission_gate.emergency_limit`. It is restored to `limit` when the level falls.")
            + each(
                "stop_non_essential", \.stopNonEssential, .bool, new: true,
                "Cancel the tasks registered with `registerNonEssential` (SPEC: \"stop non-essential work\").")
            + each(
                "prepare_restart", \.prepareRestart, .bool, new: true,
                "Await the hooks registered with `onPrepareForRestart` (SPEC: \"prepare for a graceful restart\").")
            + each(
                "signal", \.signal, signal.optional, new: true,
                "Sent to the target's leaves (every process of a group that has no other member below it; see \"Who receives a signal\"). Each of these signals terminates a process that does not handle it, so the monitor reads the target's handler mask (`SigCgt` in `/proc/PID/status`) first and leaves a process without a handler alone (`skipped`, with the reason)."
            )
            + each(
                "http_hook", \.httpHook, ValueKind<String>.url.optional, new: true,
                "POST the alert's SPEC §7 JSON, plus `trigger` (`auto` / `manual`), `action_level` and `target_pids`. A 2xx answer is `ok`.")
            + each(
                "command", \.command, argv.optional, new: true,
                "Run without a shell. Its environment is `PATH` plus `MEMORY_ALERT_SEVERITY`, `MEMORY_ALERT_COMPONENT`, `MEMORY_TARGET_PID`, `MEMORY_TARGET_PIDS`, `MEMORY_USAGE_MB` (the target's RSS), `MEMORY_THRESHOLD_MB` (the level's `memory_*_mb`), `MEMORY_ACTION_TRIGGER` and `MEMORY_ALERT_MESSAGE`; nothing of the monitor's own environment (it may hold secrets). Exit 0 is `ok`."
            )
            + each(
                "restart", \.restart, restart, new: true,
                "A signal to the target's roots (the process itself, or a group's wrapper or master); its supervisor (Kubernetes, systemd, compose `restart:`) starts it again. The object's keys: `signal` (default `SIGTERM`; `SIGTERM`, `SIGINT`, `SIGQUIT`, `SIGKILL`, `SIGUSR1`, `SIGUSR2`, `SIGHUP`); `max_per_hour` (default 3, 1–1000): restarts within `window_seconds`, one more is refused: recorded as `skipped` (\"restart loop refused: 3 restarts in the last 3600 s\"), logged at warning, and alerted (`component: auto_response`, critical, alertname `MemoryAutoResponseRefused`), the count kept in memory; `window_seconds` (default 3600, > 0, ≤ 86400): the window `max_per_hour` counts in."
            )
    }()

    /// `restart`: `true`, `false`, or an object with `signal`, `max_per_hour`, `window_seconds`.
    static let restart = ValueKind<MonitorConfiguration.Restart?>(
        allowed: "`true` or an object (`signal`, `max_per_hour`, `window_seconds`)",
        read: { reader, name in
            guard reader.has(name) else { return nil }
            if let enabled = reader.boolIfBool(name) { return .some(enabled ? MonitorConfiguration.Restart() : nil) }
            guard var rs = reader.section(name) else { return nil }
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
            reader.merge(rs)
            return .some(restart)
        }, show: { $0 == nil ? "—" : "true" }, samples: [.bool(true), .object(["max_per_hour": .number(2)])])

    // MARK: server, security, experimental, performance, logging

    static let server: [ConfigurationKey] = [
        .optional(
            "server.web_config_file", \.server.webConfigFile, .string("path"), .restart, new: true, flag: "--web.config.file",
            "exporter-toolkit's web configuration (YAML) for TLS, mTLS, basic auth and headers on both ports; see [docs/security.md](security.md)."),
        .stored(
            "server.tls_reload_seconds", \.server.tlsReloadSeconds, .number(atLeast: 1, atMost: 86_400), .restart, new: true,
            "How often the TLS certificate, key and client CA files are checked; changed files are loaded for new connections without a restart."),
        .optional(
            "server.max_connections", \.server.maxConnections, .integer(1...1_000_000), .restart, new: true,
            default: "the file-descriptor limit less 32",
            "Connections open at once across both ports; more are closed at accept (`memory_http_rejected_total{reason=\"connection_limit\"}`). Never above what the descriptor limit allows."
        ),
        .stored(
            "server.idle_timeout_seconds", \.server.idleTimeoutSeconds, .number(atLeast: 1, atMost: 86_400), .restart, new: true,
            "A connection that sends nothing for this long is closed."),
        .stored(
            "server.first_byte_timeout_seconds", \.server.firstByteTimeoutSeconds, .number(atLeast: 0.1, atMost: 3600), .restart, new: true,
            "A new connection must send its first byte within this from accept (TLS: the handshake counts), or it is closed without a reply (`reason=\"silent_connection\"`)."
        ),
        .stored(
            "server.request_timeout_seconds", \.server.requestTimeoutSeconds, .number(atLeast: 0.1, atMost: 3600), .restart, new: true,
            "A request must arrive whole within this from its first byte; otherwise 408 and the connection is closed (`reason=\"slow_request\"`): a slowloris cannot hold connections."
        ),
        .stored(
            "server.max_header_bytes", \.server.maxHeaderBytes, .integer(1024...(1 << 20)), .restart, new: true,
            "Header names and values of one request; 431 beyond (`reason=\"header_too_large\"`; over 80 KiB the parser refuses first, also 431)."),
        .stored(
            "server.max_uri_bytes", \.server.maxURIBytes, .integer(256...(1 << 20)), .restart, new: true,
            "The request target; 414 beyond (`reason=\"uri_too_long\"`)."),
        .stored(
            "server.max_body_bytes", \.server.maxBodyBytes, .integer(0...(64 << 20)), .restart, new: true,
            "A request body (no route reads one); 413 beyond (`reason=\"body_too_large\"`). Malformed requests get 400 (`reason=\"bad_request\"`)."),
        .stored(
            "server.allowed_hosts", \.server.allowedHosts, hosts, .restart, new: true,
            "More `Host` values that `POST /health/actions/*` accepts. Always accepted: loopback names (`localhost`, `*.localhost`) and addresses, this host's name and its interfaces' addresses. Any other `Host` gets 403 (`memory_http_rejected_total{reason=\"host_not_allowed\"}`): a page on evil.example whose name was rebound to 127.0.0.1 (DNS rebinding) cannot run the clean-up. List the name a reverse proxy or a Service forwards with (`monitor.example.com`). Reads are not affected."
        ),
        .stored(
            "server.shutdown_grace_seconds", \.server.shutdownGraceSeconds, .number(atLeast: 0, atMost: 300), .restart, new: true,
            "On SIGTERM the listeners close at once; connections answering a request get this long to finish, then are closed (the log counts them). Keep it below the orchestrator's grace (Kubernetes `terminationGracePeriodSeconds`, 30 by default) less `alerting.shutdown_grace_seconds`."
        ),
    ]

    static let hosts = ValueKind<[String]>(
        allowed: "array of host names or IP addresses, without scheme, port or path", read: { $0.hostArray($1) },
        show: { "`[" + $0.joined(separator: ", ") + "]`" }, samples: [.array([.string("monitor.internal")])])

    static let security: [ConfigurationKey] = [
        .optional(
            "security.action_token", \.security.actionToken, .secret, .live, new: true, env: "MEMORY_ACTION_TOKEN", file: true,
            "Bearer token `POST /health/actions/*` needs: 401 without it, 403 when it is wrong. Without a token only loopback clients (127.0.0.0/8, ::1) may call them; anyone else gets 403. The token never appears in logs or responses."
        )
    ]

    static let experimental: [ConfigurationKey] = [
        .stored(
            "experimental.predictive_alerting", \.experimental.predictiveAlerting, .bool, .live, table: .prediction,
            "Raise `memory_trend` alerts when a threshold or the limit is predicted to be crossed within the prediction window, also as the crossing recedes: a rise that slows puts it later at every check (docs/leak-detection.md)."),
        .stored(
            "experimental.prediction_window", \.experimental.predictionWindow, .number(above: 0, atMost: 604_800), .live, table: .prediction,
            "Seconds ahead a crossing is looked for. A line is trusted for it once it has been seen for half of this (at least half, at most nine tenths of `monitoring.leak_detection.monitoring_window`)."),
        .stored(
            "experimental.trend_threshold", \.experimental.trendThreshold, .number(above: 0, atMost: 100), .live, table: .prediction,
            "Least relative growth over the prediction window that counts (0.05 = 5 %)."),
    ]

    static let performance: [ConfigurationKey] = [
        .stored(
            "performance.monitoring_overhead_limit_percent", \.performance.monitoringOverheadLimitPercent, .number(above: 0, atMost: 100), .live,
            "The checks' CPU, in percent of one core; above it the check interval is lengthened until the share falls (see \"The overhead limit\" below)."
        ),
        .stored(
            "performance.max_monitoring_time_seconds", \.performance.maxMonitoringTimeSeconds, .number(above: 0, atMost: 3600), .live,
            "A check longer than this is logged and counted in `memory_check_overruns_total`."),
        accepted("performance.async_processing"),
        accepted("performance.batch_processing"),
    ]

    /// A SPEC key read and validated for compatibility, with nothing to configure.
    static func accepted(_ path: String) -> ConfigurationKey {
        ConfigurationKey(
            path: path, reload: .live, allowed: "bool", defaultText: "true",
            doc: "Accepted for compatibility; the monitor is always asynchronous.", isNew: false, environment: nil, flag: nil, fileVariant: false,
            table: .main, row: nil, samples: [], read: { reader, name, _ in _ = reader.bool(name) }, differs: { _, _ in false },
            adopt: { _, _ in })
    }

    static let logLevel = ValueKind<String>(
        allowed: "trace, debug, info, notice, warning, error, critical (WARN, FATAL accepted)",
        read: { reader, name in
            guard let v = reader.string(name, nonEmpty: true) else { return nil }
            guard let level = ConfigurationLoader.normalizedLogLevel(v) else {
                reader.problem(name, value: "\"\(v)\"", allowed: "one of " + MonitorConfiguration.logLevels.joined(separator: ", "))
                return nil
            }
            return level
        }, show: { "`\($0)`" }, samples: [.string("debug"), .string("error")])

    static let logging: [ConfigurationKey] = [
        .stored("logging.level", \.logging.level, logLevel, .live, new: true, env: "MONITORING_LOG_LEVEL", flag: "--log-level", "Log level."),
        .optional(
            "logging.file", \.logging.file, .string("path"), .restart, new: true, flag: "--log-file",
            "Also append log lines here (directory created), e.g. `logs/production.log`. Reopened on SIGHUP, for logrotate."),
        .stored(
            "logging.format", \.logging.format, .oneOf(["text", "json"]), .restart, new: true,
            "`json`: one JSON object per line (`time`, `level`, `logger`, `msg`, then the metadata). Control characters are escaped in both formats."),
    ]
}
