/// The JSON bodies of the health API (SPEC §4), built from the monitor's latest state.
/// The documented keys keep their names and units; new fields have names that say their unit.
public enum HealthReport {
    private static let mib = 1_048_576.0

    /// One decimal, as the SPEC's examples show values.
    static func round1(_ v: Double) -> JSONValue { .number(v.roundedToTenth) }

    /// `GET /health`: 200 with the overall status, or 503 when the check loop has stalled.
    public static func overall(_ monitor: MemoryMonitor) -> (status: Int, body: JSONValue) {
        let sample = monitor.latestSample
        let stalled = monitor.isStalled
        let levels = monitor.levels
        let severity = levels.values.max() ?? .healthy
        var body: JSONObject = [
            "status": .string(severity.description),
            "timestamp": .string(WallClock.rfc3339(WallClock.now())),
            "uptime_seconds": .number(monitor.uptimeSeconds.rounded()),
            "monitoring_active": .bool(!stalled && sample != nil),
            "memory_usage_mb": sample?.process?.status.residentBytes.map { round1(Double($0) / mib) } ?? .null,
            "memory_percentage": sample.map { round1($0.memoryPercent) } ?? .null,
            "active_alerts": .number(Double(monitor.alerts.activeAlerts.count)),
        ]
        body["target"] = .object([
            "description": .string(monitor.configuration.monitoring.target.description),
            "up": .bool(sample?.process != nil),
            "pid": sample?.process.map { .number(Double($0.pid)) } ?? .null,
            "name": sample?.process.map { .string($0.status.name) } ?? .null,
        ])
        body["last_check_age_seconds"] = monitor.secondsSinceLastCheck.map { .number(($0 * 1000).rounded() / 1000) } ?? .null
        body["check_interval_seconds"] = .number(monitor.configuration.monitoring.checkInterval)
        var levelObject = JSONObject()
        for component in Component.allCases { levelObject[component.rawValue] = .string((levels[component] ?? .healthy).description) }
        body["levels"] = .object(levelObject)
        body["version"] = .string(MonitorMetrics.version)
        return (stalled ? 503 : 200, .object(body))
    }

    /// `GET /health/memory`: the SPEC keys, then the detail behind them.
    public static func memory(_ monitor: MemoryMonitor) -> (status: Int, body: JSONValue) {
        guard let s = monitor.latestSample else {
            return (503, ["error": "no sample yet", "status": 503])
        }
        let p = s.process
        var body: JSONObject = [
            "timestamp": .string(WallClock.rfc3339(s.timestamp)),
            "rss_mb": p?.status.residentBytes.map { round1(Double($0) / mib) } ?? .null,
            "vms_mb": p?.status.virtualBytes.map { round1(Double($0) / mib) } ?? .null,
            "percent": round1(s.memoryPercent),
            "available_mb": round1(Double(s.limit.availableBytes) / mib),
            "swap_percent": round1(s.swapPercent),
            "gc_collections": .number(Double(monitor.cleanupCycles)),
            "gc_objects": s.allocator.map { .number(Double($0.inUseBytes)) } ?? .null,
        ]
        body["target_up"] = .bool(p != nil)
        body["pid"] = p.map { .number(Double($0.pid)) } ?? .null
        body["pss_mb"] = p?.proportionalBytes.map { round1(Double($0) / mib) } ?? .null
        body["swap_mb"] = p?.status.swappedBytes.map { round1(Double($0) / mib) } ?? .null
        body["peak_rss_mb"] = p?.status.peakResidentBytes.map { round1(Double($0) / mib) } ?? .null
        body["threads"] = p?.status.threads.map { .number(Double($0)) } ?? .null
        body["open_fds"] = p?.openFileDescriptors.map { .number(Double($0)) } ?? .null
        body["limit_mb"] = round1(Double(s.limit.limitBytes) / mib)
        body["limit_source"] = .string(s.limit.source.rawValue)
        body["used_mb"] = round1(Double(s.limit.usedBytes) / mib)
        body["host_total_mb"] = round1(Double(s.host.totalBytes) / mib)
        body["host_available_mb"] = round1(Double(s.host.availableBytes) / mib)
        if let cg = s.cgroup {
            body["cgroup"] = .object([
                "version": .string(cg.version.rawValue),
                "usage_mb": cg.usageBytes.map { round1(Double($0) / mib) } ?? .null,
                "working_set_mb": cg.workingSetBytes.map { round1(Double($0) / mib) } ?? .null,
                "limit_mb": cg.limitBytes.map { round1(Double($0) / mib) } ?? .null,
                "oom_kills": cg.oomKills.map { .number(Double($0)) } ?? .null,
            ])
        } else {
            body["cgroup"] = .null
        }
        if let psi = s.pressure {
            body["pressure"] = .object([
                "some_avg10_percent": round1(psi.some.avg10Ratio * 100),
                "full_avg10_percent": psi.full.map { round1($0.avg10Ratio * 100) } ?? .null,
            ])
        } else {
            body["pressure"] = .null
        }
        body["allocator_free_bytes"] = s.allocator.map { .number(Double($0.freeBytes)) } ?? .null
        return (200, .object(body))
    }

    /// `GET /health/metrics/history?hours=N`: the remembered samples of the last N hours.
    public static func history(_ monitor: MemoryMonitor, hours: Double) -> JSONValue {
        let entries = monitor.history(lastSeconds: hours * 3600)
        let items: [JSONValue] = entries.map { e in
            .object([
                "timestamp": .string(WallClock.rfc3339(e.timestamp)),
                "rss_mb": e.rssMB.map(round1) ?? .null,
                "vms_mb": e.vmsMB.map(round1) ?? .null,
                "percent": round1(e.percent),
                "available_mb": round1(e.availableMB),
                "swap_percent": round1(e.swapPercent),
                "check_duration_seconds": e.checkSeconds.map { .number($0) } ?? .null,
            ])
        }
        return .object([
            "hours": .number(hours),
            "count": .number(Double(items.count)),
            "capacity": .number(Double(monitor.configuration.monitoring.historySize)),
            "samples": .array(items),
        ])
    }

    /// `POST /health/actions/gc`: what the clean-up did.
    public static func cleanup(_ r: CleanupResult) -> JSONValue {
        .object([
            "success": .bool(r.success),
            "collected_objects": .number(Double(r.releasedBytes)),
            "before_objects": .number(Double(r.freeBytesBefore)),
            "after_objects": .number(Double(r.freeBytesAfter)),
            "timestamp": .string(WallClock.rfc3339(r.timestamp)),
            "rss_before_mb": round1(Double(r.residentBytesBefore) / mib),
            "rss_after_mb": round1(Double(r.residentBytesAfter) / mib),
            "cache_clearers_run": .number(Double(r.cacheClearersRun)),
        ])
    }
}
