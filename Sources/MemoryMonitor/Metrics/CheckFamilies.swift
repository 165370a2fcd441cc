/// What checks have counted so far. Each check's totals go into its snapshot, so the counters a
/// render shows are those of the check whose gauges it shows.
public struct CheckTotals: Sendable, Equatable {
    /// Checks completed.
    public private(set) var checks: UInt64 = 0
    public private(set) var overruns: UInt64 = 0
    /// `smaps_rollup` reads left for a later check (`memory_pss_skipped_total`).
    public private(set) var pssSkipped: UInt64 = 0
    /// Rises of the target cgroup's `memory.events` seen since start.
    public private(set) var oomEvents: UInt64 = 0
    public private(set) var oomKills: UInt64 = 0
    public private(set) var events: [String: UInt64] = Dictionary(uniqueKeysWithValues: MemoryEvents.names.map { ($0, 0) })
    public private(set) var leaksDetected: UInt64 = 0
    /// Times the target's identity changed (restart, pid reuse seen through a pid file, group membership).
    public private(set) var targetChanges: UInt64 = 0
    /// Durations of the checks.
    package private(set) var duration = HistogramState(bucketCount: CheckFamilies.durationBuckets.count, native: CheckFamilies.durationNative)
    /// Unix time of the last completed check.
    public private(set) var lastCheckTimestamp: Double?
    /// Unix time the counting started (OpenMetrics `_created`).
    public let startedAt: Double

    public init(startedAt: Double) { self.startedAt = startedAt }

    /// Counts what a sample saw: deferred Pss reads, cgroup events, a change of target.
    public mutating func record(_ sample: Sample) {
        pssSkipped += UInt64(max(0, sample.pssDeferred))
        oomEvents += sample.newOOMEvents
        oomKills += sample.newOOMKills
        for event in MemoryEvents.names { if let rise = sample.newEvents[event], rise > 0 { events[event, default: 0] += rise } }
        if sample.targetChanged { targetChanges += 1 }
    }

    /// Counts a new leak episode.
    public mutating func recordLeak() { leaksDetected += 1 }

    /// Counts a completed check.
    public mutating func recordCheck(seconds: Double, at timestamp: Double, overran: Bool) {
        duration.observe(seconds, buckets: CheckFamilies.durationBuckets, native: CheckFamilies.durationNative)
        checks += 1
        if overran { overruns += 1 }
        lastCheckTimestamp = timestamp
    }
}

/// The families a check sets, as a pure function of its snapshot: gauges from the sample, the
/// levels, the growth analysis and the active alerts; counters from the totals. Nothing here is
/// shared or locked, so a body rendered for generation N holds check N's values only. Families of
/// events between checks (deliveries, HTTP rejections, actions) are in `MonitorMetrics`.
package enum CheckFamilies {
    /// Histogram bounds for check duration: 10 µs to 2 s (the SPEC's ceiling for one check).
    package static let durationBuckets: [Double] = [
        0.00001, 0.000025, 0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2,
    ]
    static let durationNative: NativeHistogramOptions? = NativeHistogramOptions()

    /// The families of a snapshot.
    package static func families(_ snapshot: MonitorSnapshot) -> [MetricFamilySnapshot] {
        var all = families(
            sample: snapshot.sample, levels: snapshot.levels, growth: snapshot.growth, activeAlerts: snapshot.activeAlerts,
            totals: snapshot.totals)
        if !snapshot.leakSites.isEmpty {
            var f = Builder(created: snapshot.totals.startedAt)
            f.gauge(
                "memory_leak_site_growth_bytes",
                "Growth of each of the top allocation sites (file:line) of the newest leak profile through the target's runtime agent, by rank (1 grew most); replaced by each profile, at most monitoring.leak_detection.profile_sites series.",
                unit: "bytes", labels: ["rank", "site"],
                snapshot.leakSites.enumerated().map { ([String($0.offset + 1), $0.element.site], Double($0.element.sizeDiffBytes)) })
            all += f.families
        }
        return all
    }

    /// The families of one check's results.
    package static func families(
        sample: Sample, levels: [Component: Severity] = [:], growth: GrowthTracker.Analysis? = nil, activeAlerts: [Alert] = [],
        totals: CheckTotals
    ) -> [MetricFamilySnapshot] {
        var f = Builder(created: totals.startedAt)
        let mib = 1_048_576.0
        let p = sample.process
        let status = p?.status
        f.gauge(
            "memory_usage_bytes",
            "Compatibility family (SPEC 5): the value is in the unit its component label names (rss_mb, vms_mb, available_mb in MiB; percent, swap_percent in percent).",
            labels: ["component"],
            [
                (["rss_mb"], status?.residentBytes.map { Double($0) / mib }), (["vms_mb"], status?.virtualBytes.map { Double($0) / mib }),
                (["percent"], sample.memoryPercent), (["available_mb"], sample.availableMB), (["swap_percent"], sample.swapPercent),
            ])
        f.histogram(
            "memory_check_duration_seconds", "Time one check took: sampling, evaluation and metric update.", unit: "seconds", totals.duration,
            buckets: durationBuckets, native: durationNative)
        f.counter(
            "memory_pss_skipped",
            "smaps_rollup (Pss) reads a check left for a later one because monitoring.pss_budget_seconds was spent (the last reading stands in, or Pss is unknown until read).",
            totals.pssSkipped)
        f.counter("memory_leaks_detected", "Suspected memory leaks detected.", totals.leaksDetected)

        let anonymous = growth?.basis == "anonymous"
        f.gauge(
            "memory_growth_rate_bytes_per_second",
            "Growth of the target's anonymous memory (RssAnon; resident where unknown) over monitoring.leak_detection.monitoring_window, Theil-Sen slope. Absent until enough checks.",
            labels: ["basis"], [(["anonymous"], anonymous ? growth?.rateBytesPerSecond : nil), (["resident"], anonymous ? nil : growth?.rateBytesPerSecond)])
        f.gauge(
            "memory_predicted_seconds_to_threshold",
            "Seconds until the first check at which the target's RSS reaches each process_memory threshold at the current growth, under the series' noise (0 when above). Absent when not growing.",
            labels: ["level"], Severity.alerting.map { ([$0.description], growth?.secondsToThreshold[$0] ?? nil) })
        f.gauge(
            "memory_predicted_seconds_to_limit",
            "Seconds until the first check at which memory in use reaches the effective limit at the current growth, under the series' noise. Absent when not growing or the limit is unknown.",
            growth?.secondsToLimit ?? nil)
        f.gauge(
            "memory_trend_predicted_seconds",
            "While a memory_trend alert is open: seconds left until the crossing it predicts (crossing: the threshold level or limit). Absent otherwise; only a fit trusted to extrapolate opens one (docs/leak-detection.md).",
            labels: ["crossing"], (Severity.alerting.map(\.description) + ["limit"]).map { ([$0], growth?.trend?.crossing == $0 ? growth?.trend?.seconds : nil) })
        f.gauge(
            "memory_leak_suspected", "1 while a leak episode is in progress (the leak rule in docs/leak-detection.md), else 0.",
            (growth?.leaking ?? false) ? 1 : 0)
        var active: [(labels: [String], value: Double?)] = []
        for severity in Severity.alerting {
            for component in Component.allCases where !component.isEvent {
                let firing = activeAlerts.contains { $0.component == component && $0.severity == severity }
                active.append(([component.rawValue, severity.description], firing ? 1 : 0))
            }
        }
        f.gauge("memory_alerts_active", "Alerts currently firing, by component and severity.", labels: ["component", "severity"], active)
        f.counter("memory_checks", "Checks completed.", totals.checks)
        f.counter("memory_check_overruns", "Checks that took longer than performance.max_monitoring_time_seconds.", totals.overruns)
        f.gauge("memory_last_check_timestamp_seconds", "Unix time of the last completed check.", unit: "seconds", totals.lastCheckTimestamp)
        f.gauge(
            "memory_level", "Current level per component: 0 healthy, 1 warning, 2 critical, 3 emergency.", labels: ["component"],
            Component.allCases.filter { !$0.isEvent }.map { ([$0.rawValue], Double((levels[$0] ?? .healthy).rawValue)) })

        let targetUp: Double? =
            switch sample.targetState {
            case .up: 1
            case .gone: 0
            case .unknown: nil
            }
        f.gauge("memory_target_up", "1 when the monitored process was found at the last sample, else 0.", targetUp)
        f.gauge("memory_target_pid", "Process id of the monitored process (the lowest of a group).", p.map { Double($0.pid) })
        f.gauge(
            "memory_target_processes", "Processes in the monitored target (more than 1 for a --process-match group).", p.map { Double($0.pids.count) })
        f.counter(
            "memory_target_changes", "Times the target's identity (pid and start time, or a group's members) changed: restarts, replacements.",
            totals.targetChanges)
        // The target's runtime agent (clients/python): a group sums its members' collectors.
        let runtime = sample.runtime
        let python = runtime?.total
        f.gauge(
            "memory_target_agent_up",
            "Runtime agents of the target that answered the last check (0 or 1 for one process; a group counts its members). Absent when the probe is off.",
            runtime.map { Double($0.agentsUp) })
        f.gauge(
            "memory_target_agent_down",
            "Runtime agents of the target whose socket exists but that did not answer the last check (refused, timed out); the reason is in /health/memory.",
            runtime.map { Double($0.agentsDown) })
        let generations = python?.generations.enumerated().map { (String($0.offset), $0.element) } ?? []
        f.counter(
            "memory_target_python_gc_objects_collected", "Objects the target's Python collector collected, by generation (gc.get_stats()).",
            labels: ["generation"], generations.map { ([$0.0], $0.1.collected) })
        f.counter(
            "memory_target_python_gc_objects_uncollectable",
            "Objects the target's Python collector found uncollectable (gc.garbage), by generation: reference cycles with finalizers that it cannot free.",
            labels: ["generation"], generations.map { ([$0.0], $0.1.uncollectable) })
        f.counter(
            "memory_target_python_gc_collections", "Collections the target's Python collector ran, by generation.", labels: ["generation"],
            generations.map { ([$0.0], $0.1.collections) })
        f.gauge(
            "memory_target_python_objects", "Live objects the target's Python collector tracks (len(gc.get_objects()), refreshed by the agent at most every objects_interval).",
            python?.objects.map { Double($0) })
        f.gauge(
            "memory_target_cgroup_resolved",
            "1 when the target's cgroup was found and read (or the host has no cgroup memory controller), 0 when it is outside the monitor's view; the limit is then unknown.",
            sample.unavailable["cgroup"] == nil ? 1 : 0)
        f.gauge(
            "memory_sample_unavailable",
            "1 for each part of the last sample that could not be read (host, cgroup, limit, target); the reason is in /health/memory and the log.",
            labels: ["part"], ["host", "cgroup", "limit", "target"].map { ([$0], sample.unavailable[$0] == nil ? 0 : 1) })
        f.gauge(
            "memory_process_resident_bytes", "Resident set size of the monitored process (VmRSS).", unit: "bytes", double(status?.residentBytes))
        f.gauge("memory_process_virtual_bytes", "Virtual memory size of the monitored process (VmSize).", unit: "bytes", double(status?.virtualBytes))
        f.gauge("memory_process_swap_bytes", "Swapped-out memory of the monitored process (VmSwap).", unit: "bytes", double(status?.swappedBytes))
        f.gauge(
            "memory_process_resident_peak_bytes", "Peak resident set size of the monitored process (VmHWM).", unit: "bytes",
            double(status?.peakResidentBytes))
        f.gauge(
            "memory_process_proportional_bytes", "Proportional set size of the monitored process (Pss, smaps_rollup).", unit: "bytes",
            double(p?.proportionalBytes))
        f.gauge("memory_process_threads", "Threads of the monitored process.", double(status?.threads))
        f.gauge("memory_process_open_fds", "Open file descriptors of the monitored process.", p?.openFileDescriptors.map { Double($0) })

        f.gauge(
            "memory_host_bytes", "Host memory from /proc/meminfo, by field (total, available, free, buffers, cached, swap_total, swap_free).",
            unit: "bytes", labels: ["field"], hostFields.map { field, name in ([name], sample.host.map { Double($0[keyPath: field]) }) })
        let cg = sample.cgroup
        f.gauge("memory_cgroup_usage_bytes", "Memory charged to the monitored process's cgroup (memory.current).", unit: "bytes", double(cg?.usageBytes))
        f.gauge(
            "memory_cgroup_working_set_bytes", "cgroup usage less inactive page cache, as the kubelet counts it.", unit: "bytes",
            double(cg?.workingSetBytes))
        f.gauge("memory_cgroup_limit_bytes", "cgroup memory limit (memory.max); absent when unlimited.", unit: "bytes", double(cg?.limitBytes))
        f.counter("memory_cgroup_oom_events", "Times the cgroup hit its limit and reclaim failed (memory.events oom).", totals.oomEvents)
        f.counter("memory_cgroup_oom_kills", "Processes in the cgroup killed by the OOM killer (memory.events oom_kill).", totals.oomKills)
        f.counter(
            "memory_cgroup_events",
            "Memory events of the target's cgroup counted since the monitor started (memory.events: low, high, max, oom, oom_kill; v1 has oom_kill only).",
            labels: ["event"], MemoryEvents.names.map { ([$0], totals.events[$0] ?? 0) })
        f.gauge(
            "memory_cgroup_peak_bytes", "Highest usage the target's cgroup recorded (memory.peak, v1 memory.max_usage_in_bytes).", unit: "bytes",
            double(cg?.peakBytes))
        let limit = sample.limit
        let fromCgroup = limit?.source.rawValue == "cgroup"
        f.gauge(
            "memory_effective_limit_bytes",
            "The memory limit percent is measured against: the cgroup limit when lower than the host, else MemTotal.", unit: "bytes",
            labels: ["source"],
            [(["cgroup"], fromCgroup ? double(limit?.limitBytes) : nil), (["host"], fromCgroup ? nil : double(limit?.limitBytes))])
        f.gauge(
            "memory_effective_used_bytes", "Memory in use against the effective limit (cgroup working set, or MemTotal - MemAvailable).",
            unit: "bytes", double(limit?.usedBytes))
        f.gauge("memory_effective_used_ratio", "Memory in use as a ratio of the effective limit.", unit: "ratio", limit?.usedRatio)
        f.gauge("memory_swap_used_ratio", "Host swap in use as a ratio of swap total (0 without swap).", unit: "ratio", sample.swapPercent.map { $0 / 100 })
        let psi = sample.pressure
        let lines: [(String, PressureStall.Line?)] = [("some", psi?.some), ("full", psi?.full)]
        f.mirroredCounter(
            "memory_pressure_stalled_seconds", "Time tasks stalled on memory (PSI total), cgroup when available, else host.", unit: "seconds",
            labels: ["kind"], lines.map { ([$0.0], $0.1?.totalSeconds) })
        var ratios: [(labels: [String], value: Double?)] = []
        for (kind, line) in lines {
            ratios += [([kind, "10s"], line?.avg10Ratio), ([kind, "60s"], line?.avg60Ratio), ([kind, "300s"], line?.avg300Ratio)]
        }
        f.gauge(
            "memory_pressure_stall_ratio", "Share of time tasks stalled on memory (PSI avg10/avg60/avg300).", unit: "ratio",
            labels: ["kind", "window"], ratios)
        f.gauge(
            "memory_allocator_bytes", "The monitor's own glibc heap (mallinfo2), by state (in_use, free).", unit: "bytes", labels: ["state"],
            [(["in_use"], double(sample.allocator?.inUseBytes)), (["free"], double(sample.allocator?.freeBytes))])

        let e = sample.exporter
        f.gauge("process_resident_memory_bytes", "Resident memory size in bytes.", unit: "bytes", double(e.residentBytes))
        f.gauge("process_virtual_memory_bytes", "Virtual memory size in bytes.", unit: "bytes", double(e.virtualBytes))
        f.mirroredCounter("process_cpu_seconds", "Total user and system CPU time spent in seconds.", unit: "seconds", labels: [], [([], e.cpuSeconds)])
        f.gauge("process_open_fds", "Number of open file descriptors.", e.openFileDescriptors.map { Double(max(0, $0)) })
        f.gauge("process_max_fds", "Maximum number of open file descriptors.", Double(e.maxFileDescriptors))
        f.gauge("process_start_time_seconds", "Start time of the process since unix epoch in seconds.", unit: "seconds", e.startTimeSeconds)
        return f.families
    }

    static func double<T: BinaryInteger>(_ value: T?) -> Double? { value.map { Double($0) } }

    /// `memory_host_bytes{field}` and where each comes from.
    static let hostFields: [(KeyPath<MemInfo, UInt64> & Sendable, String)] = [
        (\.totalBytes, "total"), (\.availableBytes, "available"), (\.freeBytes, "free"), (\.buffersBytes, "buffers"),
        (\.cachedBytes, "cached"), (\.swapTotalBytes, "swap_total"), (\.swapFreeBytes, "swap_free"),
    ]

    /// Appends family snapshots; a series whose value is nil is left out (a value not known is
    /// absent, never zero).
    struct Builder {
        var families: [MetricFamilySnapshot] = []
        let created: Double

        init(created: Double) {
            self.created = created
            families.reserveCapacity(48)
        }

        mutating func gauge(_ name: String, _ help: String, unit: String? = nil, _ value: Double?) {
            gauge(name, help, unit: unit, labels: [], [([], value)])
        }

        mutating func gauge(_ name: String, _ help: String, unit: String? = nil, labels: [String], _ values: [(labels: [String], value: Double?)]) {
            add(name, help, .gauge, unit: unit, labels: labels, values, created: nil)
        }

        mutating func counter(_ name: String, _ help: String, unit: String? = nil, _ value: UInt64) {
            add(name, help, .counter, unit: unit, labels: [], [([], Double(value))], created: created)
        }

        mutating func counter(_ name: String, _ help: String, unit: String? = nil, labels: [String], _ values: [(labels: [String], value: UInt64)]) {
            add(name, help, .counter, unit: unit, labels: labels, values.map { ($0.labels, Double($0.value)) }, created: created)
        }

        /// A counter kept elsewhere (the kernel's): its start is not known here.
        mutating func mirroredCounter(
            _ name: String, _ help: String, unit: String? = nil, labels: [String], _ values: [(labels: [String], value: Double?)]
        ) {
            add(name, help, .counter, unit: unit, labels: labels, values, created: nil)
        }

        mutating func histogram(
            _ name: String, _ help: String, unit: String?, _ state: HistogramState, buckets: [Double], native: NativeHistogramOptions?
        ) {
            let series = state.count == 0 ? [] : [state.series(labels: [], native: native, created: created)]
            families.append(
                MetricFamilySnapshot(name: name, help: help, type: .histogram, unit: unit, labelNames: [], buckets: buckets, series: series))
        }

        private mutating func add(
            _ name: String, _ help: String, _ type: MetricType, unit: String?, labels: [String], _ values: [(labels: [String], value: Double?)],
            created: Double?
        ) {
            var series: [MetricFamilySnapshot.Series] = []
            series.reserveCapacity(values.count)
            for (labelValues, value) in values {
                guard let value else { continue }
                series.append(.init(labelValues: labelValues, value: value, cumulativeCounts: [], created: created))
            }
            families.append(MetricFamilySnapshot(name: name, help: help, type: type, unit: unit, labelNames: labels, buckets: [], series: series))
        }
    }
}
