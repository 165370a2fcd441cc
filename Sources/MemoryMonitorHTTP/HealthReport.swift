import MemoryMonitor

/// The JSON bodies and status codes of the health API (SPEC §4), built from one published
/// `MonitorSnapshot`. The documented keys keep their names and units; new fields name their unit.
/// A value the monitor could not read is `null`, with the reason under `unavailable`.
enum HealthReport {
    private static let mib = 1_048_576.0

    /// One decimal, as the SPEC's examples show values.
    static func round1(_ v: Double) -> JSONValue { .number(v.roundedToTenth) }
    static func mb(_ bytes: UInt64?) -> JSONValue { bytes.map { round1(Double($0) / mib) } ?? .null }
    static func number(_ v: Double?) -> JSONValue { v.map(round1) ?? .null }

    /// `GET /health`: 200 with the overall status, or 503 when the check loop has stalled.
    static func overall(_ monitor: MemoryMonitor) -> (status: Int, body: JSONValue) {
        let snapshot = monitor.snapshot
        let stalled = monitor.isStalled
        let sample = snapshot?.sample
        let levels = snapshot?.levels ?? [:]
        var body: JSONObject = [
            "status": .string((snapshot?.overallSeverity ?? .healthy).description),
            "timestamp": .string(WallClock.rfc3339(WallClock.now())),
            "uptime_seconds": .number(monitor.uptimeSeconds.rounded()),
            "monitoring_active": .bool(!stalled && snapshot != nil),
            "memory_usage_mb": mb(sample?.process?.status.residentBytes),
            "memory_percentage": number(sample?.memoryPercent),
            "active_alerts": .number(Double(snapshot?.activeAlerts.count ?? 0)),
        ]
        body["target"] = .object([
            "description": .string(monitor.configuration.monitoring.target.description),
            "state": .string(sample.map { stateName($0.targetState) } ?? "unknown"),
            "up": .bool(sample?.process != nil),
            "pid": sample?.process.map { .number(Double($0.pid)) } ?? .null,
            "name": sample?.process.map { .string($0.status.name) } ?? .null,
        ])
        body["last_check_age_seconds"] = monitor.secondsSinceLastCheck.map { .number(($0 * 1000).rounded() / 1000) } ?? .null
        let overhead = monitor.overhead
        body["check_interval_seconds"] = .number(overhead.intervalSeconds)
        body["overhead"] = .object([
            "check_cpu_percent": overhead.cpuPercent.map { .number(($0 * 1000).rounded() / 1000) } ?? .null,
            "limit_percent": .number(overhead.limitPercent),
            "configured_interval_seconds": .number(overhead.configuredIntervalSeconds),
            "interval_seconds": .number(overhead.intervalSeconds),
            "interval_lengthened": .bool(overhead.stretched),
        ])
        var levelObject = JSONObject()
        for component in Component.measured { levelObject[component.rawValue] = .string((levels[component] ?? .healthy).description) }
        if levels[.target] != nil { levelObject["target"] = "target_gone" }
        body["levels"] = .object(levelObject)
        body["version"] = .string(MonitorMetrics.version)
        return (stalled ? 503 : 200, .object(body))
    }

    static func stateName(_ state: Sample.TargetState) -> String {
        switch state {
        case .up: "up"
        case .gone: "gone"
        case .unknown: "unknown"
        }
    }

    /// `GET /health/memory`: the SPEC keys, then the detail behind them.
    static func memory(_ snapshot: MonitorSnapshot?, pressureTrigger: PressureWatch.Status = .off) -> (status: Int, body: JSONValue) {
        guard let snapshot else { return (503, ["error": "no check has completed yet", "status": 503]) }
        let s = snapshot.sample
        let p = s.process
        var body: JSONObject = [
            "timestamp": .string(WallClock.rfc3339(s.timestamp)),
            "rss_mb": mb(p?.status.residentBytes),
            "vms_mb": mb(p?.status.virtualBytes),
            "percent": number(s.memoryPercent),
            "available_mb": number(s.availableMB),
            "swap_percent": number(s.swapPercent),
            "gc_collections": .number(Double(snapshot.cleanupCycles)),
            "gc_objects": .null,
        ]
        // With the target's runtime agent, the SPEC's gc keys are the target's Python collector;
        // without one, gc_collections counts the clean-up actions run and gc_objects is unknown.
        let runtime = s.runtime
        if let python = runtime?.total {
            body["gc_collections"] = .number(Double(python.generations.reduce(0) { $0 + $1.collections }))
            body["gc_objects"] = python.objects.map { .number(Double($0)) } ?? .null
            body["gc_source"] = "agent"
        } else {
            body["gc_source"] = "monitor"
        }
        var runtimeBody: JSONObject = [
            "agents_up": runtime.map { .number(Double($0.agentsUp)) } ?? .null,
            "agents_down": runtime.map { .number(Double($0.agentsDown)) } ?? .null,
            "read_seconds": runtime.map { .number(($0.readSeconds * 1_000_000).rounded() / 1_000_000) } ?? .null,
        ]
        if let python = runtime?.total, case .object(let report) = python.json {
            for key in report.keys { runtimeBody[key] = report[key] }
        } else {
            runtimeBody["reason"] =
                runtime.map { .string($0.reason ?? "no agent answered") }
                ?? .string(s.targetDescription == MonitoredTarget.ownProcess.description ? "the monitor watches itself: no agent" : "monitoring.agent.enabled is false or the target is not up")
        }
        if let runtime, !runtime.problems.isEmpty {
            var problems = JSONObject()
            for pid in runtime.problems.keys.sorted() { problems[String(pid)] = .string(runtime.problems[pid] ?? "") }
            runtimeBody["problems"] = .object(problems)
        }
        body["runtime"] = .object(runtimeBody)
        body["monitor_heap_bytes"] = s.allocator.map { .number(Double($0.inUseBytes)) } ?? .null
        body["target_up"] = .bool(p != nil)
        body["target_state"] = .string(stateName(s.targetState))
        body["pid"] = p.map { .number(Double($0.pid)) } ?? .null
        body["pids"] = p.map { .array($0.pids.map { .number(Double($0)) }) } ?? .null
        body["processes"] = p.map { .number(Double($0.pids.count)) } ?? .null
        body["start_ticks"] = p?.startTicks.map { .number(Double($0)) } ?? .null
        body["target_changes"] = .number(Double(snapshot.targetChanges))
        body["pss_mb"] = mb(p?.proportionalBytes)
        body["swap_mb"] = mb(p?.status.swappedBytes)
        body["peak_rss_mb"] = mb(p?.status.peakResidentBytes)
        body["threads"] = p?.status.threads.map { .number(Double($0)) } ?? .null
        body["open_fds"] = p?.openFileDescriptors.map { .number(Double($0)) } ?? .null
        body["limit_mb"] = mb(s.limit?.limitBytes)
        body["limit_source"] = .string(s.limit?.source.rawValue ?? "unknown")
        body["used_mb"] = mb(s.limit?.usedBytes)
        body["host_total_mb"] = mb(s.host?.totalBytes)
        body["host_available_mb"] = mb(s.host?.availableBytes)
        if let cg = s.cgroup {
            body["cgroup"] = .object([
                "version": .string(cg.version.rawValue),
                "directory": s.cgroupDirectory.map { .string($0) } ?? .null,
                "usage_mb": mb(cg.usageBytes),
                "working_set_mb": mb(cg.workingSetBytes),
                "limit_mb": mb(cg.limitBytes),
                "oom_kills": cg.oomKills.map { .number(Double($0)) } ?? .null,
                "peak_mb": mb(cg.peakBytes),
                "events": .object(JSONObject(events: cg.events)),
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
        switch pressureTrigger {
        case .off: body["pressure_trigger"] = .object(["state": "off", "checks": "on the interval"])
        case .armed(let path): body["pressure_trigger"] = .object(["state": "armed", "path": .string(path)])
        case .unavailable(let reason):
            body["pressure_trigger"] = .object(["state": "unavailable", "reason": .string(reason), "checks": "on the interval"])
        }
        if let g = snapshot.growth {
            var predicted = JSONObject()
            for severity in Severity.alerting { predicted[severity.description] = g.secondsToThreshold[severity].map { .number($0.rounded()) } ?? .null }
            predicted["limit"] = g.secondsToLimit.map { .number($0.rounded()) } ?? .null
            body["growth"] = .object([
                "basis": .string(g.basis),
                "rate_bytes_per_second": g.rateBytesPerSecond.map { .number($0.rounded()) } ?? .null,
                "leak_suspected": .bool(g.leaking),
                "predicted_seconds_to": .object(predicted),
                "sites": .array(snapshot.leakSites.map(\.json)),
            ])
        } else {
            body["growth"] = .null
        }
        var unavailable = JSONObject()
        for (key, reason) in s.unavailable { unavailable[key] = .string(reason) }
        for (key, reason) in p?.unavailable ?? [:] { unavailable[key] = .string(reason) }
        body["unavailable"] = .object(unavailable)
        return (200, .object(body))
    }

    /// `GET /health/metrics/history?hours=N[&step=S]`: the remembered checks of the last N hours,
    /// or with `step`, one point per S seconds with the min, avg and max of each value.
    /// Points one history response holds at most (newest kept): bounds its size and its cost.
    static let maximumPoints = 5000

    static func history(_ monitor: MemoryMonitor, hours: Double, step: Double? = nil, maximumPoints: Int = maximumPoints) -> JSONValue {
        // Without a step only the newest maximumPoints are listed: copy no more (one over tells
        // that there were more).
        var entries = monitor.history(lastSeconds: hours * 3600, newest: step == nil ? maximumPoints + 1 : .max)
        var body: JSONObject = [
            "hours": .number(hours),
            "capacity": .number(Double(monitor.configuration.monitoring.historySize)),
        ]
        guard let step else {
            if entries.count > maximumPoints {
                body["truncated"] = .bool(true)
                body["hint"] = .string("only the newest \(maximumPoints) checks are listed; add step=SECONDS for the whole window")
                entries.removeFirst(entries.count - maximumPoints)
            }
            let items: [JSONValue] = entries.map { e in
                .object([
                    "timestamp": .string(WallClock.rfc3339(e.timestamp)),
                    "rss_mb": number(e.rssMB),
                    "vms_mb": number(e.vmsMB),
                    "percent": number(e.percent),
                    "available_mb": number(e.availableMB),
                    "swap_percent": number(e.swapPercent),
                    "check_duration_seconds": e.checkSeconds.map { .number($0) } ?? .null,
                ])
            }
            body["count"] = .number(Double(items.count))
            body["samples"] = .array(items)
            return .object(body)
        }
        // One pass over the window; the output grows with the number of steps, not of checks.
        var buckets: [(start: Double, entries: [SampleHistory.Entry])] = []
        for e in entries {
            let start = (e.timestamp / step).rounded(.down) * step
            if buckets.last?.start == start { buckets[buckets.count - 1].entries.append(e) } else { buckets.append((start, [e])) }
        }
        if buckets.count > maximumPoints {
            body["truncated"] = .bool(true)
            body["hint"] = .string("only the newest \(maximumPoints) steps are listed; use a larger step")
            buckets.removeFirst(buckets.count - maximumPoints)
        }
        let items: [JSONValue] = buckets.map { bucket in
            func summary(_ values: [Double?]) -> JSONValue {
                let known = values.compactMap { $0 }
                guard let low = known.min(), let high = known.max() else { return .null }
                return .object(["min": round1(low), "avg": round1(known.reduce(0, +) / Double(known.count)), "max": round1(high)])
            }
            return .object([
                "timestamp": .string(WallClock.rfc3339(bucket.start)),
                "checks": .number(Double(bucket.entries.count)),
                "rss_mb": summary(bucket.entries.map(\.rssMB)),
                "vms_mb": summary(bucket.entries.map(\.vmsMB)),
                "percent": summary(bucket.entries.map(\.percent)),
                "available_mb": summary(bucket.entries.map(\.availableMB)),
                "swap_percent": summary(bucket.entries.map(\.swapPercent)),
            ])
        }
        body["step_seconds"] = .number(step)
        body["count"] = .number(Double(items.count))
        body["samples"] = .array(items)
        return .object(body)
    }

    /// `GET /health/alerts?hours=N`.
    static func alerts(_ summary: AlertSummary) -> JSONValue {
        .object([
            "hours": .number(summary.hours),
            "total_alerts": .number(Double(summary.total)),
            "active_alerts": .number(Double(summary.active)),
            "resolved_alerts": .number(Double(summary.resolved)),
            "superseded_alerts": .number(Double(summary.superseded)),
            "by_severity": counts(summary.bySeverity),
            "by_component": counts(summary.byComponent),
            "alerts": .array(summary.alerts.map(\.payload)),
        ])
    }

    private static func counts(_ counts: [String: Int]) -> JSONValue {
        var object = JSONObject()
        for key in counts.keys.sorted() { object[key] = .number(Double(counts[key] ?? 0)) }
        return .object(object)
    }

    /// `POST /health/actions/gc`: what the clean-up did to the target. The SPEC's keys are
    /// measured on the target's resident memory, in bytes (`units`).
    static func cleanup(_ records: [ActionRecord], monitor: MemoryMonitor) -> JSONValue {
        let ran = records.filter { $0.result == .ok }
        let before = records.first(where: { $0.residentBytesBefore != nil })?.residentBytesBefore
        let after = records.last(where: { $0.residentBytesAfter != nil })?.residentBytesAfter
        let reclaimed = ran.compactMap(\.reclaimedBytes).reduce(0, +)
        func bytes(_ v: UInt64?) -> JSONValue { v.map { .number(Double($0)) } ?? .null }
        // Through the target's agent the SPEC's keys are Python objects, as gc.collect() counts them.
        let collection = ran.first { $0.collectedObjects != nil }
        return .object([
            "success": .bool(!ran.isEmpty),
            "scope": .string(monitor.autoResponse.inProcess ? "process" : collection != nil ? "agent" : "target"),
            "units": .string(collection != nil ? "objects" : "bytes"),
            "collected_objects": collection.map { bytes($0.collectedObjects) } ?? .number(Double(reclaimed)),
            "before_objects": collection.map { bytes($0.objectsBefore) } ?? bytes(before),
            "after_objects": collection.map { bytes($0.objectsAfter) } ?? bytes(after),
            "rss_before_bytes": bytes(before),
            "rss_after_bytes": bytes(after),
            "reclaimed_bytes": .number(Double(reclaimed)),
            "timestamp": .string(WallClock.rfc3339(WallClock.now())),
            "target_pid": records.first?.targetPid.map { .number(Double($0)) } ?? .null,
            "dry_run": .bool(monitor.configuration.autoResponse.dryRun),
            "actions": .array(records.map(\.json)),
        ])
    }

    /// `GET /health/leaks`: leak episodes, newest first, with the allocation sites their profile
    /// found through the target's runtime agent, or why there are none.
    static func leaks(_ monitor: MemoryMonitor) -> JSONValue {
        let profiler = monitor.leakProfiler
        return [
            "profiling": .bool(profiler.isRunning),
            "profile_seconds": .number(monitor.configuration.monitoring.leakDetection.profileSeconds),
            "latest_profile": profiler.latest?.json ?? .null,
            "episodes": .array(profiler.episodes.map(\.json)),
        ]
    }

    /// `GET /health/actions?hours=N`: recent actions, newest first, with totals and the gate.
    static func actions(_ monitor: MemoryMonitor, hours: Double) -> JSONValue {
        let records = monitor.autoResponse.records(lastSeconds: hours * 3600)
        var byResult = JSONObject()
        for result in ActionResult.allCases { byResult[result.rawValue] = .number(Double(records.filter { $0.result == result }.count)) }
        let reclaimed = records.filter { $0.result == .ok }.compactMap(\.reclaimedBytes).reduce(0, +)
        let gate = monitor.gate.status
        let c = monitor.configuration.autoResponse
        return .object([
            "hours": .number(hours),
            "enabled": .bool(c.enabled),
            "dry_run": .bool(c.dryRun),
            "mode": .string(monitor.autoResponse.inProcess ? "in_process" : "sidecar"),
            "total_actions": .number(Double(records.count)),
            "by_result": .object(byResult),
            "reclaimed_bytes": .number(Double(reclaimed)),
            "admission_gate": ["limit": .number(Double(gate.limit)), "in_flight": .number(Double(gate.inFlight)), "waiting": .number(Double(gate.waiting)), "rejected": .number(Double(gate.rejected))],
            "actions": .array(records.map(\.json)),
        ])
    }
}

extension JSONObject {
    /// The kernel's memory event counts by name, null where the cgroup version has none.
    init(events: MemoryEvents) {
        self.init()
        for name in MemoryEvents.names { self[name] = events[name].map { .number(Double($0)) } ?? .null }
    }
}
