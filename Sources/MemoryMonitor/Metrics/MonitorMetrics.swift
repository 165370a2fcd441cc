/// Every family the exporter serves, registered once, and how a sample sets them.
/// docs/metrics.md is the table of these families; keep the two in step.
public final class MonitorMetrics: Sendable {
    /// The registry the families live in.
    public let registry: MetricRegistry

    // The SPEC §5 compatibility families.
    let usage: GaugeFamily
    /// `memory_alerts_sent_total{severity}`.
    public let alertsSent: CounterFamily
    /// `memory_check_duration_seconds`.
    public let checkDuration: HistogramFamily
    /// `memory_cleanup_operations_total`.
    public let cleanupOperations: CounterFamily
    /// `memory_auto_response_actions_total{level,action,result}`.
    let autoResponseActions: CounterFamily
    /// `memory_reclaimed_bytes_total{action}`.
    let reclaimedBytes: CounterFamily
    let gateLimit: GaugeFamily
    let gateInFlight: GaugeFamily
    let gateWaiting: GaugeFamily
    let gateRejected: CounterFamily
    /// `memory_pss_skipped_total`.
    let pssSkipped: CounterFamily
    let stateWriteErrors: CounterFamily
    /// `memory_leaks_detected_total`.
    public let leaksDetected: CounterFamily

    // Growth and prediction.
    let growthRate: GaugeFamily
    let secondsToThreshold: GaugeFamily
    let secondsToLimit: GaugeFamily
    let leaking: GaugeFamily

    // Alert delivery.
    let alertsActive: GaugeFamily
    let alertsRateLimited: CounterFamily
    let alertDeliveries: CounterFamily
    let alertDeliveryRetries: CounterFamily
    let alertQueueDepth: GaugeFamily
    let alertsDropped: CounterFamily

    /// `memory_http_rejected_total{reason}`: connections or requests the HTTP server refused.
    public let httpRejected: CounterFamily
    /// `memory_exposition_renders_total{format}`: /metrics bodies rendered (one per snapshot and
    /// format at most; scrapes served from the cache render nothing).
    public let expositionRenders: CounterFamily

    // The check loop.
    let checks: CounterFamily
    let checkOverruns: CounterFamily
    let checkCPURatio: GaugeFamily
    let effectiveCheckInterval: GaugeFamily
    let lastCheck: GaugeFamily
    let level: GaugeFamily
    let thresholdBytes: GaugeFamily
    let thresholdRatio: GaugeFamily

    // The monitored process.
    let targetUp: GaugeFamily
    let targetPid: GaugeFamily
    let targetProcesses: GaugeFamily
    let targetChanges: CounterFamily
    let targetCgroupResolved: GaugeFamily
    let unavailable: GaugeFamily
    let processResident: GaugeFamily
    let processVirtual: GaugeFamily
    let processSwap: GaugeFamily
    let processPeak: GaugeFamily
    let processProportional: GaugeFamily
    let processThreads: GaugeFamily
    let processFds: GaugeFamily

    // Host, cgroup, limit, pressure, allocator.
    let host: GaugeFamily
    let cgroupUsage: GaugeFamily
    let cgroupWorkingSet: GaugeFamily
    let cgroupLimit: GaugeFamily
    let cgroupOOMEvents: CounterFamily
    let cgroupOOMKills: CounterFamily
    let cgroupEvents: CounterFamily
    let cgroupPeak: GaugeFamily
    let limitBytes: GaugeFamily
    let usedBytes: GaugeFamily
    let usedRatio: GaugeFamily
    let swapRatio: GaugeFamily
    let pressureStalled: CounterFamily
    let pressureTriggers: CounterFamily
    let pressureRatio: GaugeFamily
    let allocator: GaugeFamily

    // The exporter's own process, as every Prometheus client library names it.
    let ownResident: GaugeFamily
    let ownVirtual: GaugeFamily
    let ownCPU: CounterFamily
    let ownFds: GaugeFamily
    let ownMaxFds: GaugeFamily
    let ownStart: GaugeFamily

    /// The labelled series every check sets, looked up once.
    private let h: Handles

    /// Histogram bounds for check duration: 10 µs to 2 s (the SPEC's ceiling for one check).
    public static let checkDurationBuckets: [Double] = [
        0.00001, 0.000025, 0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2,
    ]

    /// The `version` label of `memory_monitor_build_info`.
    public static let version = "0.1.0"

    /// The Swift compiler that built this binary (major.minor).
    public static let swiftVersion: String = {
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
    public static let platform: (os: String, arch: String) = {
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
    public static var versionDescription: String { "\(version) (revision \(revision), swift \(swiftVersion), \(platform.os)/\(platform.arch))" }

    /// Registers every family in a new registry and sets the values known before the first sample.
    public init(thresholds: MonitorConfiguration.Thresholds) {
        let r = MetricRegistry()
        registry = r
        usage = r.gauge(
            "memory_usage_bytes",
            help: "Compatibility family (SPEC 5): the value is in the unit its component label names (rss_mb, vms_mb, available_mb in MiB; percent, swap_percent in percent).",
            labels: ["component"])
        alertsSent = r.counter("memory_alerts_sent", help: "Alerts sent, by severity.", labels: ["severity"])
        checkDuration = r.histogram(
            "memory_check_duration_seconds", help: "Time one check took: sampling, evaluation and metric update.", unit: "seconds",
            buckets: Self.checkDurationBuckets, native: NativeHistogramOptions())
        cleanupOperations = r.counter(
            "memory_cleanup_operations", help: "Actions run by the automatic response or POST /health/actions/gc (ok or failed; skipped and dry runs are not counted).")
        autoResponseActions = r.counter(
            "memory_auto_response_actions",
            help: "Automatic-response actions by level (manual for POST /health/actions/gc), action and result (ok, failed, skipped, dry_run).",
            labels: ["level", "action", "result"])
        reclaimedBytes = r.counter(
            "memory_reclaimed_bytes", help: "Resident bytes of the target freed by actions that succeeded, measured before and after each.", unit: "bytes",
            labels: ["action"])
        gateLimit = r.gauge("memory_admission_limit", help: "Operations the embedded admission gate admits at once (shrinks at critical and emergency).")
        gateInFlight = r.gauge("memory_admission_in_flight", help: "Operations admitted by the admission gate and still running.")
        gateWaiting = r.gauge("memory_admission_waiting", help: "Callers waiting at the admission gate.")
        gateRejected = r.counter("memory_admission_rejected", help: "Callers the admission gate rejected because admission_gate.max_waiting were waiting.")
        gateRejected.increment(by: 0)
        pssSkipped = r.counter(
            "memory_pss_skipped",
            help: "smaps_rollup (Pss) reads a check left for a later one because monitoring.pss_budget_seconds was spent (the last reading stands in, or Pss is unknown until read).")
        pssSkipped.increment(by: 0)
        stateWriteErrors = r.counter(
            "memory_state_write_errors",
            help: "Failed writes of a state-directory file (alerts.journal, history.jsonl), by file: the old file is kept and what it lacks is written again at the next check.",
            labels: ["file"])
        leaksDetected = r.counter("memory_leaks_detected", help: "Suspected memory leaks detected.")

        growthRate = r.gauge(
            "memory_growth_rate_bytes_per_second",
            help: "Growth of the target's anonymous memory (RssAnon; resident where unknown) over monitoring.leak_detection.monitoring_window, Theil-Sen slope. Absent until enough checks.",
            labels: ["basis"])
        secondsToThreshold = r.gauge(
            "memory_predicted_seconds_to_threshold",
            help: "Seconds until the target's RSS reaches each process_memory threshold at the current growth (0 when above). Absent when not growing.",
            labels: ["level"])
        secondsToLimit = r.gauge(
            "memory_predicted_seconds_to_limit",
            help: "Seconds until memory in use reaches the effective limit at the current growth. Absent when not growing or the limit is unknown.")
        leaking = r.gauge("memory_leak_suspected", help: "1 while a leak episode is in progress (the leak rule in docs/leak-detection.md), else 0.")
        leaking.set(0)
        alertsActive = r.gauge(
            "memory_alerts_active", help: "Alerts currently firing, by component and severity.", labels: ["component", "severity"])
        alertsRateLimited = r.counter(
            "memory_alerts_rate_limited", help: "Alerts held back because a similar one was sent within alerting.rate_limit_seconds.",
            labels: ["component", "severity"])
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
        checks = r.counter("memory_checks", help: "Checks completed.")
        checkOverruns = r.counter(
            "memory_check_overruns", help: "Checks that took longer than performance.max_monitoring_time_seconds.")
        checkCPURatio = r.gauge(
            "memory_check_cpu_ratio",
            help: "CPU the checks took over the last window (ten check intervals), as a fraction of one core; compared with performance.monitoring_overhead_limit_percent.",
            unit: "ratio")
        effectiveCheckInterval = r.gauge(
            "memory_check_interval_seconds",
            help: "The check interval in use: monitoring.check_interval, lengthened while the checks take more CPU than performance.monitoring_overhead_limit_percent.",
            unit: "seconds")
        lastCheck = r.gauge(
            "memory_last_check_timestamp_seconds", help: "Unix time of the last completed check.", unit: "seconds")
        level = r.gauge(
            "memory_level", help: "Current level per component: 0 healthy, 1 warning, 2 critical, 3 emergency.", labels: ["component"])
        thresholdBytes = r.gauge(
            "memory_threshold_bytes", help: "Configured resident-memory thresholds of the monitored process.", unit: "bytes",
            labels: ["component", "severity"])
        thresholdRatio = r.gauge(
            "memory_threshold_ratio", help: "Configured thresholds for memory and swap in use, as a ratio of the limit.", unit: "ratio",
            labels: ["component", "severity"])

        targetUp = r.gauge("memory_target_up", help: "1 when the monitored process was found at the last sample, else 0.")
        targetPid = r.gauge("memory_target_pid", help: "Process id of the monitored process (the lowest of a group).")
        targetProcesses = r.gauge("memory_target_processes", help: "Processes in the monitored target (more than 1 for a --process-match group).")
        targetChanges = r.counter(
            "memory_target_changes", help: "Times the target's identity (pid and start time, or a group's members) changed: restarts, replacements.")
        targetCgroupResolved = r.gauge(
            "memory_target_cgroup_resolved",
            help: "1 when the target's cgroup was found and read (or the host has no cgroup memory controller), 0 when it is outside the monitor's view; the limit is then unknown.")
        unavailable = r.gauge(
            "memory_sample_unavailable",
            help: "1 for each part of the last sample that could not be read (host, cgroup, limit, target); the reason is in /health/memory and the log.",
            labels: ["part"])
        processResident = r.gauge(
            "memory_process_resident_bytes", help: "Resident set size of the monitored process (VmRSS).", unit: "bytes")
        processVirtual = r.gauge(
            "memory_process_virtual_bytes", help: "Virtual memory size of the monitored process (VmSize).", unit: "bytes")
        processSwap = r.gauge("memory_process_swap_bytes", help: "Swapped-out memory of the monitored process (VmSwap).", unit: "bytes")
        processPeak = r.gauge(
            "memory_process_resident_peak_bytes", help: "Peak resident set size of the monitored process (VmHWM).", unit: "bytes")
        processProportional = r.gauge(
            "memory_process_proportional_bytes", help: "Proportional set size of the monitored process (Pss, smaps_rollup).", unit: "bytes")
        processThreads = r.gauge("memory_process_threads", help: "Threads of the monitored process.")
        processFds = r.gauge("memory_process_open_fds", help: "Open file descriptors of the monitored process.")

        host = r.gauge(
            "memory_host_bytes", help: "Host memory from /proc/meminfo, by field (total, available, free, buffers, cached, swap_total, swap_free).",
            unit: "bytes", labels: ["field"])
        cgroupUsage = r.gauge(
            "memory_cgroup_usage_bytes", help: "Memory charged to the monitored process's cgroup (memory.current).", unit: "bytes")
        cgroupWorkingSet = r.gauge(
            "memory_cgroup_working_set_bytes", help: "cgroup usage less inactive page cache, as the kubelet counts it.", unit: "bytes")
        cgroupLimit = r.gauge("memory_cgroup_limit_bytes", help: "cgroup memory limit (memory.max); absent when unlimited.", unit: "bytes")
        cgroupOOMEvents = r.counter("memory_cgroup_oom_events", help: "Times the cgroup hit its limit and reclaim failed (memory.events oom).")
        cgroupOOMKills = r.counter("memory_cgroup_oom_kills", help: "Processes in the cgroup killed by the OOM killer (memory.events oom_kill).")
        cgroupEvents = r.counter(
            "memory_cgroup_events",
            help: "Memory events of the target's cgroup counted since the monitor started (memory.events: low, high, max, oom, oom_kill; v1 has oom_kill only).",
            labels: ["event"])
        cgroupPeak = r.gauge(
            "memory_cgroup_peak_bytes", help: "Highest usage the target's cgroup recorded (memory.peak, v1 memory.max_usage_in_bytes).", unit: "bytes")
        limitBytes = r.gauge(
            "memory_effective_limit_bytes", help: "The memory limit percent is measured against: the cgroup limit when lower than the host, else MemTotal.",
            unit: "bytes", labels: ["source"])
        usedBytes = r.gauge(
            "memory_effective_used_bytes", help: "Memory in use against the effective limit (cgroup working set, or MemTotal - MemAvailable).",
            unit: "bytes")
        usedRatio = r.gauge("memory_effective_used_ratio", help: "Memory in use as a ratio of the effective limit.", unit: "ratio")
        swapRatio = r.gauge("memory_swap_used_ratio", help: "Host swap in use as a ratio of swap total (0 without swap).", unit: "ratio")
        pressureStalled = r.counter(
            "memory_pressure_stalled_seconds", help: "Time tasks stalled on memory (PSI total), cgroup when available, else host.", unit: "seconds",
            labels: ["kind"])
        pressureTriggers = r.counter(
            "memory_pressure_triggers", help: "Times the PSI trigger fired (a pressure spike between checks); each runs a check at once, at most one a second.")
        pressureTriggers.increment(by: 0)
        pressureRatio = r.gauge(
            "memory_pressure_stall_ratio", help: "Share of time tasks stalled on memory (PSI avg10/avg60/avg300).", unit: "ratio",
            labels: ["kind", "window"])
        allocator = r.gauge(
            "memory_allocator_bytes", help: "The monitor's own glibc heap (mallinfo2), by state (in_use, free).", unit: "bytes", labels: ["state"])

        ownResident = r.gauge("process_resident_memory_bytes", help: "Resident memory size in bytes.", unit: "bytes")
        ownVirtual = r.gauge("process_virtual_memory_bytes", help: "Virtual memory size in bytes.", unit: "bytes")
        ownCPU = r.counter("process_cpu_seconds", help: "Total user and system CPU time spent in seconds.", unit: "seconds")
        ownFds = r.gauge("process_open_fds", help: "Number of open file descriptors.")
        ownMaxFds = r.gauge("process_max_fds", help: "Maximum number of open file descriptors.")
        ownStart = r.gauge("process_start_time_seconds", help: "Start time of the process since unix epoch in seconds.", unit: "seconds")
        let build = r.gauge(
            "memory_monitor_build_info", help: "Build information: version, git revision, Swift version, OS and architecture; the value is always 1.",
            labels: ["version", "revision", "swift_version", "os", "arch"])
        build.set(1, Self.version, Self.revision, Self.swiftVersion, Self.platform.os, Self.platform.arch)

        let (unavailable, host, secondsToThreshold, level) = (unavailable, host, secondsToThreshold, level)
        h = Handles(
            usageRSS: usage.handle("rss_mb"), usageVMS: usage.handle("vms_mb"), usagePercent: usage.handle("percent"),
            usageAvailable: usage.handle("available_mb"), usageSwapPercent: usage.handle("swap_percent"),
            unavailable: ["host", "cgroup", "limit", "target"].map { ($0, unavailable.handle($0)) },
            host: Handles.hostFields.map { ($0.0, host.handle($0.1)) },
            limitCgroup: limitBytes.handle("cgroup"), limitHost: limitBytes.handle("host"),
            pressureSome: Handles.pressure(pressureRatio, "some"), pressureFull: Handles.pressure(pressureRatio, "full"),
            allocatorInUse: allocator.handle("in_use"), allocatorFree: allocator.handle("free"),
            growthAnonymous: growthRate.handle("anonymous"), growthResident: growthRate.handle("resident"),
            secondsToThreshold: Severity.alerting.map { ($0, secondsToThreshold.handle($0.description)) },
            level: Component.allCases.filter { !$0.isEvent }.map { ($0, level.handle($0.rawValue)) })

        for severity in Severity.alerting {
            alertsSent.increment(by: 0, severity.description)
            for component in Component.allCases where !component.isEvent { alertsActive.set(0, component.rawValue, severity.description) }
        }
        cleanupOperations.increment(by: 0)
        targetChanges.increment(by: 0)
        cgroupOOMKills.increment(by: 0)
        cgroupOOMEvents.increment(by: 0)
        for event in MemoryEvents.names { cgroupEvents.increment(by: 0, event) }
        leaksDetected.increment(by: 0)
        checks.increment(by: 0)
        checkOverruns.increment(by: 0)
        setThresholds(ThresholdPolicy(thresholds))
    }

    func setThresholds(_ policy: ThresholdPolicy) {
        for severity in Severity.alerting {
            thresholdBytes.set(policy.processMB.bound(for: severity)! * 1_048_576, Component.processMemory.rawValue, severity.description)
            thresholdRatio.set(policy.systemPercent.bound(for: severity)! / 100, Component.systemMemory.rawValue, severity.description)
            thresholdRatio.set(policy.swapPercent.bound(for: severity)! / 100, Component.swapMemory.rawValue, severity.description)
        }
    }

    /// Sets every sampled gauge from `sample`. Values that were not read are removed, not zeroed.
    public func update(from sample: Sample) {
        if sample.pssDeferred > 0 { pssSkipped.increment(by: Double(sample.pssDeferred)) }
        let mib = 1_048_576.0
        switch sample.targetState {
        case .up: targetUp.set(1)
        case .gone: targetUp.set(0)
        case .unknown: targetUp.remove()
        }
        for (part, gauge) in h.unavailable { gauge.set(sample.unavailable[part] == nil ? 0 : 1) }
        if let p = sample.process {
            targetPid.set(Double(p.pid))
            targetProcesses.set(Double(p.pids.count))
            setOrRemove(processResident, p.status.residentBytes)
            setOrRemove(processVirtual, p.status.virtualBytes)
            setOrRemove(processSwap, p.status.swappedBytes)
            setOrRemove(processPeak, p.status.peakResidentBytes)
            setOrRemove(processProportional, p.proportionalBytes)
            setOrRemove(processThreads, p.status.threads)
            setOrRemove(processFds, p.openFileDescriptors.map { UInt64($0) })
            h.usageRSS.set(orRemove: p.status.residentBytes.map { Double($0) / mib })
            h.usageVMS.set(orRemove: p.status.virtualBytes.map { Double($0) / mib })
        } else {
            for family in [targetPid, targetProcesses, processResident, processVirtual, processSwap, processPeak, processProportional, processThreads, processFds] {
                family.remove()
            }
            h.usageRSS.remove()
            h.usageVMS.remove()
        }
        h.usagePercent.set(orRemove: sample.memoryPercent)
        h.usageAvailable.set(orRemove: sample.availableMB)
        h.usageSwapPercent.set(orRemove: sample.swapPercent)

        for (field, gauge) in h.host { gauge.set(orRemove: sample.host.map { Double($0[keyPath: field]) }) }

        let cg = sample.cgroup
        targetCgroupResolved.set(sample.unavailable["cgroup"] == nil ? 1 : 0)
        setOrRemove(cgroupUsage, cg?.usageBytes)
        setOrRemove(cgroupWorkingSet, cg?.workingSetBytes)
        setOrRemove(cgroupLimit, cg?.limitBytes)
        // Deltas of the same cgroup: the counters never go down when the target or its cgroup changes.
        if sample.newOOMEvents > 0 { cgroupOOMEvents.increment(by: Double(sample.newOOMEvents)) }
        if sample.newOOMKills > 0 { cgroupOOMKills.increment(by: Double(sample.newOOMKills)) }
        for event in MemoryEvents.names {
            if let rise = sample.newEvents[event], rise > 0 { cgroupEvents.increment(by: Double(rise), event) }
        }
        setOrRemove(cgroupPeak, cg?.peakBytes)

        if let limit = sample.limit {
            let fromCgroup = limit.source.rawValue == "cgroup"
            (fromCgroup ? h.limitHost : h.limitCgroup).remove()
            (fromCgroup ? h.limitCgroup : h.limitHost).set(Double(limit.limitBytes))
            usedBytes.set(Double(limit.usedBytes))
            usedRatio.set(limit.usedRatio)
        } else {
            h.limitCgroup.remove()
            h.limitHost.remove()
            usedBytes.remove()
            usedRatio.remove()
        }
        setOrRemove(swapRatio, sample.swapPercent.map { $0 / 100 })

        if let psi = sample.pressure {
            func record(_ line: PressureStall.Line, _ kind: [String], _ ratios: (avg10: Gauge, avg60: Gauge, avg300: Gauge)) {
                pressureStalled.set(line.totalSeconds, labels: kind)
                ratios.avg10.set(line.avg10Ratio)
                ratios.avg60.set(line.avg60Ratio)
                ratios.avg300.set(line.avg300Ratio)
            }
            record(psi.some, Handles.some, h.pressureSome)
            if let full = psi.full { record(full, Handles.full, h.pressureFull) }
        }
        if let a = sample.allocator {
            h.allocatorInUse.set(Double(a.inUseBytes))
            h.allocatorFree.set(Double(a.freeBytes))
        }

        let e = sample.exporter
        setOrRemove(ownResident, e.residentBytes)
        setOrRemove(ownVirtual, e.virtualBytes)
        ownCPU.set(e.cpuSeconds)
        setOrRemove(ownFds, e.openFileDescriptors.map { UInt64(max(0, $0)) })
        ownMaxFds.set(Double(e.maxFileDescriptors))
        ownStart.set(e.startTimeSeconds)
    }

    /// Records this check's growth analysis; a new leak episode counts once.
    func update(growth: GrowthTracker.Analysis?, leakStarted: Bool) {
        if leakStarted { leaksDetected.increment() }
        guard let growth else {
            h.growthAnonymous.remove()
            h.growthResident.remove()
            for (_, gauge) in h.secondsToThreshold { gauge.remove() }
            secondsToLimit.remove()
            return
        }
        let anonymous = growth.basis == "anonymous"
        (anonymous ? h.growthResident : h.growthAnonymous).remove()
        (anonymous ? h.growthAnonymous : h.growthResident).set(orRemove: growth.rateBytesPerSecond)
        for (severity, gauge) in h.secondsToThreshold { gauge.set(orRemove: growth.secondsToThreshold[severity]) }
        setOrRemove(secondsToLimit, growth.secondsToLimit)
        leaking.set(growth.leaking ? 1 : 0)
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

    /// Records the levels from the last evaluation.
    public func update(levels: [Component: Severity]) {
        for (component, gauge) in h.level { gauge.set(Double((levels[component] ?? .healthy).rawValue)) }
    }

    /// Records a completed check.
    func recordCheck(seconds: Double, at timestamp: Double, overran: Bool) {
        checkDuration.observe(seconds)
        checks.increment()
        if overran { checkOverruns.increment() }
        lastCheck.set(timestamp)
    }

    private func setOrRemove(_ family: GaugeFamily, _ value: UInt64?) {
        if let value { family.set(Double(value)) } else { family.remove() }
    }

    private func setOrRemove(_ family: GaugeFamily, _ value: Double?) {
        if let value { family.set(value) } else { family.remove() }
    }

}

/// The labelled series a check sets, each looked up once when the families are registered.
private struct Handles: Sendable {
    let usageRSS, usageVMS, usagePercent, usageAvailable, usageSwapPercent: Gauge
    let unavailable: [(String, Gauge)]
    let host: [(KeyPath<MemInfo, UInt64> & Sendable, Gauge)]
    let limitCgroup, limitHost: Gauge
    let pressureSome, pressureFull: (avg10: Gauge, avg60: Gauge, avg300: Gauge)
    let allocatorInUse, allocatorFree: Gauge
    let growthAnonymous, growthResident: Gauge
    let secondsToThreshold: [(Severity, Gauge)]
    let level: [(Component, Gauge)]

    /// `memory_host_bytes{field}` and where each comes from.
    static let hostFields: [(KeyPath<MemInfo, UInt64> & Sendable, String)] = [
        (\.totalBytes, "total"), (\.availableBytes, "available"), (\.freeBytes, "free"), (\.buffersBytes, "buffers"),
        (\.cachedBytes, "cached"), (\.swapTotalBytes, "swap_total"), (\.swapFreeBytes, "swap_free"),
    ]

    /// Label values of `memory_pressure_stalled_seconds_total`, a counter (no handles): built once.
    static let some = ["some"]
    static let full = ["full"]

    static func pressure(_ family: GaugeFamily, _ kind: String) -> (avg10: Gauge, avg60: Gauge, avg300: Gauge) {
        (family.handle(kind, "10s"), family.handle(kind, "60s"), family.handle(kind, "300s"))
    }
}
