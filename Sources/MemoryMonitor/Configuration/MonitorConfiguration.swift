/// Everything the monitor can be told, with the SPEC's defaults. Built from the embedded
/// defaults, then the JSON file, then environment variables, then command-line flags.
public struct MonitorConfiguration: Sendable, Equatable {
    /// `monitoring.*`: the check loop, the target, the listeners.
    public struct Monitoring: Sendable, Equatable {
        /// `check_interval`: seconds between checks (fractions allowed).
        public var checkInterval: Double = 30
        /// `enable_tracemalloc`: collect the monitor's allocator statistics (mallinfo2).
        public var collectAllocatorStatistics = true
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
        /// `target`: which process to watch.
        public var target: MonitoredTarget = .ownProcess
        /// `leak_detection.*`.
        public var leakDetection = LeakDetection()
    }

    /// `monitoring.leak_detection.*`.
    public struct LeakDetection: Sendable, Equatable {
        public var enabled = true
        /// Growth over the window, as a ratio (0.1 = 10 %).
        public var thresholdGrowthRate: Double = 0.1
        /// Seconds.
        public var monitoringWindow: Double = 300
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

    /// `alerting.*` (delivery itself is not built yet; the keys are read and checked).
    public struct Alerting: Sendable, Equatable {
        public var webhookURL: String?
        public var slackWebhook: String?
        public var email: String?
        public var rateLimitSeconds: Double = 300
        /// Channels per severity.
        public var channels: [String: [String]] = [
            "warning": ["log"], "critical": ["log", "slack"], "emergency": ["log", "slack", "email"],
        ]
    }

    /// `performance.*`.
    public struct Performance: Sendable, Equatable {
        public var monitoringOverheadLimitPercent: Double = 5
        /// A check longer than this is logged and counted.
        public var maxMonitoringTimeSeconds: Double = 2
    }

    /// `logging.*`.
    public struct Logging: Sendable, Equatable {
        /// trace, debug, info, notice, warning, error, critical.
        public var level = "info"
        /// Also write log lines to this file (created with its directory).
        public var file: String?
    }

    public var monitoring = Monitoring()
    public var thresholds = Thresholds()
    public var alerting = Alerting()
    public var performance = Performance()
    public var logging = Logging()
    /// `auto_response.enabled`.
    public var autoResponseEnabled = true

    /// The embedded defaults.
    public init() {}

    /// Log levels accepted by `logging.level`, `--log-level` and `MONITORING_LOG_LEVEL`.
    public static let logLevels = ["trace", "debug", "info", "notice", "warning", "error", "critical"]

    /// Alert channel names accepted in `alerting.alert_levels.*.channels`.
    public static let channelNames = ["log", "webhook", "slack", "email", "alertmanager"]
}
