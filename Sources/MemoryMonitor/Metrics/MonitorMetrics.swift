/// The families of events between checks: alerts sent and delivered, actions, HTTP rejections,
/// renders, the admission gate, the overhead governor, the thresholds in force and the build.
/// What a check measures is not here: `CheckFamilies` renders it from the check's snapshot.
/// docs/metrics.md is the table of both; keep it in step.
package final class MonitorMetrics: Sendable {
    /// The registry the families live in.
    package let registry: MetricRegistry

    /// `memory_alerts_sent_total{severity}`.
    package let alertsSent: CounterFamily
    /// `memory_cleanup_operations_total`.
    package let cleanupOperations: CounterFamily
    /// `memory_auto_response_actions_total{level,action,result}`.
    let autoResponseActions: CounterFamily
    /// `memory_reclaimed_bytes_total{action}`.
    let reclaimedBytes: CounterFamily
    let reclaimedObjects: CounterFamily
    let gateLimit: GaugeFamily
    let gateInFlight: GaugeFamily
    let gateWaiting: GaugeFamily
    let gateRejected: CounterFamily
    let stateWriteErrors: CounterFamily

    // Alert delivery.
    let alertsRateLimited: CounterFamily
    /// `memory_alerts_suppressed_total{reason}`: alerts not sent, by why.
    let alertsSuppressed: CounterFamily
    let alertDeliveries: CounterFamily
    let alertDeliveryRetries: CounterFamily
    let alertQueueDepth: GaugeFamily
    let alertsDropped: CounterFamily

    /// `memory_http_rejected_total{reason}`: connections or requests the HTTP server refused.
    package let httpRejected: CounterFamily
    /// `memory_exposition_renders_total{format}`: /metrics bodies rendered (one per snapshot and
    /// format at most; scrapes served from the cache render nothing).
    package let expositionRenders: CounterFamily

    // The check loop's pace and the thresholds in force.
    let checkCPURatio: GaugeFamily
    let effectiveCheckInterval: GaugeFamily
    let thresholdBytes: GaugeFamily
    let thresholdRatio: GaugeFamily
    let pressureTriggers: CounterFamily

    /// The `version` label of `memory_monitor_build_info`.
    package static let version = "0.1.0"

    /// The Swift compiler that built this binary (major.minor).
    package static let swiftVersion: String = {
        #if compiler(>=6.4)
        "6.4+"
        #elseif compiler(>=6.3)
        "6.3"
        #elseif compiler(>=6.2)
        "6.2"
        #else
        "6.1"
        #endif
    }()

    /// `linux/x86_64`, as exporters report GOOS/GOARCH.
    package static let platform: (os: String, arch: String) = {
        #if os(Linux)
        let os = "linux"
        #elseif os(macOS)
        let os = "darwin"
        #else
        let os = "unknown"
        #endif
        #if arch(x86_64)
        let arch = "x86_64"
        #elseif arch(arm64)
        let arch = "arm64"
        #else
        let arch = "unknown"
        #endif
        return (os, arch)
    }()

    /// What `--version` prints.
    package static var versionDescription: String { "\(version) (revision \(revision), swift \(swiftVersion), \(platform.os)/\(platform.arch))" }

    /// Registers every family in a new registry and sets the values known before the first sample.
    package init(thresholds: MonitorConfiguration.Thresholds) {
        let r = MetricRegistry()
        registry = r
        alertsSent = r.counter("memory_alerts_sent", help: "Alerts sent, by severity.", labels: ["severity"])
        cleanupOperations = r.counter(
            "memory_cleanup_operations", help: "Actions run by the automatic response or POST /health/actions/gc (ok or failed; skipped and dry runs are not counted).")
        autoResponseActions = r.counter(
            "memory_auto_response_actions",
            help: "Automatic-response actions by level (manual for POST /health/actions/gc), action and result (ok, failed, skipped, dry_run).",
            labels: ["level", "action", "result"])
        reclaimedBytes = r.counter(
            "memory_reclaimed_bytes", help: "Resident bytes of the target freed by actions that succeeded, measured before and after each.", unit: "bytes",
            labels: ["action"])
        reclaimedObjects = r.counter(
            "memory_reclaimed_objects",
            help: "Python objects the target's collector freed in actions that succeeded through its runtime agent (force_gc), as gc.collect() counted them.",
            labels: ["action"])
        gateLimit = r.gauge("memory_admission_limit", help: "Operations the embedded admission gate admits at once (shrinks at critical and emergency).")
        gateInFlight = r.gauge("memory_admission_in_flight", help: "Operations admitted by the admission gate and still running.")
        gateWaiting = r.gauge("memory_admission_waiting", help: "Callers waiting at the admission gate.")
        gateRejected = r.counter("memory_admission_rejected", help: "Callers the admission gate rejected because admission_gate.max_waiting were waiting.")
        gateRejected.increment(by: 0)
        stateWriteErrors = r.counter(
            "memory_state_write_errors",
            help: "Failed writes of a state-directory file (alerts.journal, history.jsonl), by file: the old file is kept and what it lacks is written again at the next check.",
            labels: ["file"])

        alertsRateLimited = r.counter(
            "memory_alerts_rate_limited", help: "Alerts held back because a similar one was sent within alerting.rate_limit_seconds.",
            labels: ["component", "severity"])
        alertsSuppressed = r.counter(
            "memory_alerts_suppressed",
            help: "Alerts not sent, by reason: rate_limited (a similar one within alerting.rate_limit_seconds), refire (the level fired again within it after it resolved or fell), flapping (the component changes level too often), unannounced_resolve (a resolve of a fire nobody was told of).",
            labels: ["reason"])
        for reason in AlertRouter.HoldReason.allCases { alertsSuppressed.increment(by: 0, reason.rawValue) }
        alertDeliveries = r.counter(
            "memory_alert_deliveries", help: "Delivery attempts by channel and result (delivered, failed).", labels: ["channel", "result"])
        alertDeliveryRetries = r.counter("memory_alert_delivery_retries", help: "Delivery retries scheduled, by channel.", labels: ["channel"])
        alertQueueDepth = r.gauge("memory_alert_queue_depth", help: "Alerts waiting for delivery, by channel.", labels: ["channel"])
        alertsDropped = r.counter(
            "memory_alerts_dropped",
            help: "Alerts a channel gave up on, by reason: queue_full, rejected (4xx or permanent SMTP error), gave_up (retried past alerting.max_delivery_seconds), shutdown.",
            labels: ["channel", "reason"])
        httpRejected = r.counter(
            "memory_http_rejected",
            help: "Connections or requests the HTTP server refused, by reason (connection_limit, idle_evicted, silent_connection, header_too_large, uri_too_long, body_too_large, slow_request, bad_request, unauthorized, auth_backoff, auth_busy, host_not_allowed).",
            labels: ["reason"])
        httpRejected.increment(by: 0, "connection_limit")
        expositionRenders = r.counter(
            "memory_exposition_renders",
            help: "Bodies rendered for GET /metrics, by format (text, openmetrics, protobuf). A body is rendered at most once per snapshot; every other scrape of that snapshot is served from the cache.",
            labels: ["format"])
        for format in ExpositionFormat.allCases { expositionRenders.increment(by: 0, format.label) }
        checkCPURatio = r.gauge(
            "memory_check_cpu_ratio",
            help: "CPU the checks took over the last window (ten check intervals), as a fraction of one core; compared with performance.monitoring_overhead_limit_percent.",
            unit: "ratio")
        effectiveCheckInterval = r.gauge(
            "memory_check_interval_seconds",
            help: "The check interval in use: monitoring.check_interval, lengthened while the checks take more CPU than performance.monitoring_overhead_limit_percent.",
            unit: "seconds")
        thresholdBytes = r.gauge(
            "memory_threshold_bytes", help: "Configured resident-memory thresholds of the monitored process.", unit: "bytes",
            labels: ["component", "severity"])
        thresholdRatio = r.gauge(
            "memory_threshold_ratio", help: "Configured thresholds for memory and swap in use, as a ratio of the limit.", unit: "ratio",
            labels: ["component", "severity"])


        pressureTriggers = r.counter(
            "memory_pressure_triggers", help: "Times the PSI trigger fired (a pressure spike between checks); each runs a check at once, at most one a second.")
        pressureTriggers.increment(by: 0)

        let build = r.gauge(
            "memory_monitor_build_info", help: "Build information: version, git revision, Swift version, OS and architecture; the value is always 1.",
            labels: ["version", "revision", "swift_version", "os", "arch"])
        build.set(1, Self.version, Self.revision, Self.swiftVersion, Self.platform.os, Self.platform.arch)

        for severity in Severity.alerting {
            alertsSent.increment(by: 0, severity.description)
        }
        cleanupOperations.increment(by: 0)
        setThresholds(ThresholdPolicy(thresholds))
    }

    func setThresholds(_ policy: ThresholdPolicy) {
        for severity in Severity.alerting {
            thresholdBytes.set(policy.processMB.bound(for: severity)! * 1_048_576, Component.processMemory.rawValue, severity.description)
            thresholdRatio.set(policy.systemPercent.bound(for: severity)! / 100, Component.systemMemory.rawValue, severity.description)
            thresholdRatio.set(policy.swapPercent.bound(for: severity)! / 100, Component.swapMemory.rawValue, severity.description)
        }
    }

    /// Counts one delivery attempt on a channel.
    func recordDelivery(channel: AlertChannelID, outcome: DeliveryOutcome) {
        alertDeliveries.increment(channel.rawValue, outcome.rawValue)
    }

    /// Counts alerts a channel gave up on.
    func recordDrop(channel: AlertChannelID, reason: AlertDropReason, count: Int = 1) {
        alertsDropped.increment(by: Double(count), channel.rawValue, reason.rawValue)
    }

    /// Records the admission gate's counts.
    func updateGate(_ status: AdmissionGate.Status) {
        gateLimit.set(Double(status.limit))
        gateInFlight.set(Double(status.inFlight))
        gateWaiting.set(Double(status.waiting))
    }
}
