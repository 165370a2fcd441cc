/// Everything the monitor can be told, with the SPEC's defaults. Built from the embedded
/// defaults, then the JSON file, then environment variables, then command-line flags.
public struct MonitorConfiguration: Sendable, Equatable {
    /// `monitoring.*`: the check loop, the target, the listeners.
    public struct Monitoring: Sendable, Equatable {
        /// `check_interval`: seconds between checks (fractions allowed).
        public var checkInterval: Double = 30
        /// `allocator_statistics`: collect the monitor's own allocator statistics (mallinfo2).
        public var collectAllocatorStatistics = true
        /// `enable_tracemalloc`: the target's runtime agent traces allocations from the start (tracemalloc),
        /// so a leak profile also sees what was allocated before the episode; off, it traces only during a profile.
        public var traceAllocations = false
        /// `prometheus_port`: the metrics listener.
        public var prometheusPort = 9091
        /// `health_port`: the health API listener (may equal `prometheus_port`).
        public var healthPort = 8080
        /// `listen_address`: where both listeners bind.
        public var listenAddress = "0.0.0.0"
        /// `history_size`: samples kept for /health/metrics/history.
        public var historySize = 2000
        /// `scrape_max_age_seconds`: a scrape older than this takes a fresh sample first.
        public var scrapeMaxAge: Double = 1
        /// `pss_refresh_seconds`: how long a Pss reading (smaps_rollup, costly) is reused; 0 = every sample.
        public var pssRefreshSeconds: Double = 30
        /// `pss_budget_seconds`: time one check may spend reading smaps_rollup; the rest of a group waits for later checks.
        public var pssBudgetSeconds: Double = 0.1
        /// `target`: which process to watch.
        public var target: MonitoredTarget = .ownProcess
        /// `cgroup`: a cgroup directory to read instead of resolving the target's (a sidecar that knows it).
        public var cgroup: String?
        /// `pressure_trigger`: the PSI trigger that runs a check at once on a pressure spike; nil ("off") disables it.
        public var pressureTrigger: String? = "some 200000 2000000"
        /// `leak_detection.*`.
        public var leakDetection = LeakDetection()
        /// `agent.*`: the target's runtime agent (clients/python).
        public var agent = Agent()
    }

    /// `monitoring.agent.*`: how the monitor finds and talks to the agent inside the target.
    public struct Agent: Sendable, Equatable {
        /// `enabled`: look for the target's agent at each check.
        public var enabled = true
        /// `timeout_seconds`: the longest a check waits for an agent's report.
        public var timeoutSeconds = 0.25
        /// `socket`: the agent's socket, named outright (no discovery).
        public var socket: String?
        /// `socket_dir`: the monitor's mount of a directory it shares with the target (a Kubernetes emptyDir).
        public var socketDirectory: String?
    }

    /// `monitoring.leak_detection.*`.
    public struct LeakDetection: Sendable, Equatable {
        public var enabled = true
        /// Growth over the window, as a ratio (0.1 = 10 %).
        public var thresholdGrowthRate: Double = 0.1
        /// Seconds.
        public var monitoringWindow: Double = 300
        /// `peak_lookback_seconds`: how far back a level the target has reached counts as where it
        /// has been; growth is a leak or a trend only once it passes it (0: no such guard).
        public var peakLookbackSeconds: Double = 86_400
        /// Severity of `memory_leak` alerts (`leak_detection.severity`).
        public var severity: Severity = .warning
        /// `profile`: profile allocation sites through the target's agent when an episode starts.
        public var profile = true
        /// `profile_seconds`: how long the target's agent traces allocations when an episode starts.
        public var profileSeconds: Double = 60
        /// `profile_sites`: allocation sites a profile keeps (and `memory_leak_site_growth_bytes` series).
        public var profileSites = 10
        /// `profile_depth`: frames of each site's traceback.
        public var profileDepth = 8
    }

    /// `experimental.*`: predictive alerting.
    public struct Experimental: Sendable, Equatable {
        /// `predictive_alerting`: raise `memory_trend` alerts.
        public var predictiveAlerting = true
        /// `prediction_window`: seconds ahead a crossing is looked for.
        public var predictionWindow: Double = 600
        /// `trend_threshold`: the least relative growth over the prediction window that counts (0.05 = 5 %).
        public var trendThreshold: Double = 0.05
    }

    /// `thresholds.*`: warning < critical < emergency for each component.
    public struct Thresholds: Sendable, Equatable {
        public var memoryWarningMB: Double = 1024
        public var memoryCriticalMB: Double = 2048
        public var memoryEmergencyMB: Double = 4096
        public var memoryPercentWarning: Double = 70
        public var memoryPercentCritical: Double = 85
        public var memoryPercentEmergency: Double = 95
        public var swapPercentWarning: Double = 50
        public var swapPercentCritical: Double = 75
        public var swapPercentEmergency: Double = 90
    }

    /// `alerting.*`: evaluation, rate limits, channels and delivery.
    public struct Alerting: Sendable, Equatable {
        /// Generic webhook: POST the SPEC §7 JSON here.
        public var webhookURL: String?
        /// Extra headers for the generic webhook (an Authorization token, say).
        public var webhookHeaders: [String: String] = [:]
        /// Slack incoming webhook.
        public var slackWebhook: String?
        /// Alertmanager base URL (`http://host:9093`); alerts go to its /api/v2/alerts.
        public var alertmanagerURL: String?
        /// `alertmanager_urls`: more Alertmanagers (an HA cluster); every alert goes to each, as
        /// Prometheus does.
        public var alertmanagerURLs: [String] = []
        /// `job`: the `job` label of alerts sent to Alertmanager; the bundled scrape job's name, so
        /// the exporter's alerts and the rules' alerts for one condition are one alert.
        public var job = "flight-crawler-memory"
        /// `external_labels`: added to alerts sent to Alertmanager, as Prometheus adds its own; the
        /// bundled prometheus.yml's by default.
        public var externalLabels: [String: String] = ["monitor": "memory-monitor"]

        /// Every Alertmanager, `alertmanager_url` first.
        public var alertmanagers: [String] { (alertmanagerURL.map { [$0] } ?? []) + alertmanagerURLs.filter { $0 != alertmanagerURL } }
        /// Email recipients (`ALERT_EMAIL`, comma-separated).
        public var email: String?
        /// SMTP settings for the email channel.
        public var smtp = SMTP()
        /// Seconds between similar alerts (same component and severity).
        public var rateLimitSeconds: Double = 300
        /// Channels per severity. By default every level goes to the log, the generic webhook and
        /// Alertmanager; critical adds Slack; emergency adds Slack and email. A channel without a
        /// destination (no URL, no SMTP host) is skipped.
        public var channels: [String: [String]] = [
            "warning": ["log", "webhook", "alertmanager"],
            "critical": ["log", "slack", "webhook", "alertmanager"],
            "emergency": ["log", "slack", "email", "webhook", "alertmanager"],
        ]
        /// Channels named in the configuration file's `alert_levels` (a missing destination for one is warned about).
        public var explicitlyListedChannels: Set<String> = []
        /// A level clears only when the value falls this many percent below its threshold.
        public var hysteresisPercent: Double = 5
        /// Consecutive checks a level must hold before it fires.
        public var forChecks = 1
        /// The `instance` an alert names (default: `<host name>:<prometheus_port>`, what a scrape of
        /// this host's metrics port calls it).
        public var instance: String?
        /// Seconds one delivery attempt may take.
        public var deliveryTimeoutSeconds: Double = 5
        /// Seconds an alert is retried before it is dropped (and counted).
        public var maxDeliverySeconds: Double = 3600
        /// The longest wait between two attempts (backoff doubles from 0.5 s up to this).
        public var maxRetryIntervalSeconds: Double = 30
        /// Alerts waiting per channel; the oldest is dropped (and counted) beyond this.
        public var queueCapacity = 1000
        /// Seconds between re-sends of active alerts to Alertmanager.
        public var alertmanagerResendSeconds: Double = 60
        /// Hours of alert history kept (at least 24).
        public var historyHours: Double = 24
        /// Where undelivered alerts and history survive a restart (`--state-dir`).
        public var stateDirectory: String?
        /// Seconds pending deliveries get on shutdown before they are left in the state directory.
        public var shutdownGraceSeconds: Double = 5
        /// `auto_response.emergency_actions.send_immediate_alert`: emergencies skip the rate limit.
        public var emergencyBypassesRateLimit = true
        /// Level changes within `rateLimitSeconds` that mark a component as flapping.
        public var flapThreshold = 4
        /// How long a flapping component must keep one level before its state goes out again.
        public var flapStableSeconds: Double = 300
    }

    /// `alerting.smtp.*`.
    public struct SMTP: Sendable, Equatable {
        public var host: String?
        public var port = 587
        public var username: String?
        public var password: String?
        public var from = "memory-monitor@localhost"
        /// Upgrade with STARTTLS (required when true).
        public var startTLS = true
        /// Accept any server certificate (tests, self-signed relays).
        public var insecureSkipVerify = false
    }

    /// `performance.*`.
    public struct Performance: Sendable, Equatable {
        public var monitoringOverheadLimitPercent: Double = 5
        /// A check longer than this is logged and counted.
        public var maxMonitoringTimeSeconds: Double = 2
    }

    /// `server.*`: limits of the HTTP listeners.
    public struct Server: Sendable, Equatable {
        /// `web_config_file` (also `--web.config.file`): exporter-toolkit's YAML for TLS, basic auth, headers.
        public var webConfigFile: String?
        /// `tls_reload_seconds`: how often the TLS files are checked for changes.
        public var tlsReloadSeconds: Double = 10
        /// `max_connections`: connections open at once (also capped by the file-descriptor limit).
        public var maxConnections: Int?
        /// `idle_timeout_seconds`: a connection that sends nothing for this long is closed.
        public var idleTimeoutSeconds: Double = 60
        /// `request_timeout_seconds`: a request must arrive whole within this from its first byte.
        public var requestTimeoutSeconds: Double = 10
        /// `first_byte_timeout_seconds`: a new connection must send its first byte within this from accept.
        public var firstByteTimeoutSeconds: Double = 5
        /// `max_header_bytes`: 431 beyond.
        public var maxHeaderBytes = 16 * 1024
        /// `max_uri_bytes`: 414 beyond.
        public var maxURIBytes = 8 * 1024
        /// `max_body_bytes`: 413 beyond.
        public var maxBodyBytes = 64 * 1024
        /// `allowed_hosts`: more `Host` names (or addresses) the mutating endpoints accept, besides
        /// loopback and this host's own names and addresses (DNS rebinding defence).
        public var allowedHosts: [String] = []
        /// Seconds graceful shutdown lets open connections finish before closing them.
        public var shutdownGraceSeconds: Double = 5
    }

    /// `security.*`.
    public struct Security: Sendable, Equatable {
        /// `action_token` (env `MEMORY_ACTION_TOKEN`): the bearer token mutating endpoints require.
        /// Without it only loopback clients may call them.
        public var actionToken: String?
    }

    /// `logging.*`.
    public struct Logging: Sendable, Equatable {
        /// trace, debug, info, notice, warning, error, critical.
        public var level = "info"
        /// Also write log lines to this file (created with its directory).
        public var file: String?
        /// `format`: `text` (one line per event) or `json` (one JSON object per line).
        public var format = "text"
    }

    public var monitoring = Monitoring()
    public var thresholds = Thresholds()
    public var alerting = Alerting()
    public var performance = Performance()
    public var experimental = Experimental()
    public var logging = Logging()
    /// `auto_response.*`: what the monitor does at each level.
    public var autoResponse = AutoResponse()
    /// `security.*`: who may call the mutating endpoints.
    public var security = Security()
    /// `server.*`: HTTP limits.
    public var server = Server()

    /// `auto_response.enabled`.
    public var autoResponseEnabled: Bool {
        get { autoResponse.enabled }
        set { autoResponse.enabled = newValue }
    }

    /// The embedded defaults.
    public init() {}

    /// Log levels accepted by `logging.level`, `--log-level` and `MONITORING_LOG_LEVEL`.
    public static let logLevels = ["trace", "debug", "info", "notice", "warning", "error", "critical"]

    /// Keys that are read and validated but do not change behaviour yet (later work builds them);
    /// the executable warns about each once at start.
    public static let acceptedNotBuilt: [String] = []

    /// Alert channel names accepted in `alerting.alert_levels.*.channels`.
    public static let channelNames = ["log", "webhook", "slack", "email", "alertmanager"]
}
