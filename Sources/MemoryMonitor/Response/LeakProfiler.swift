import Synchronization

/// One allocation site from a profile: where the target's memory grew, by line.
package struct LeakSite: Sendable, Equatable {
    /// `app.py:42` (relative to the service's root; a package's module by the package's path).
    package var site: String
    package var function: String
    /// Bytes and allocations the site gained over the profile (negative: it shrank).
    package var sizeDiffBytes: Int64
    package var countDiff: Int64
    /// Bytes the site holds now (with tracing from start, allocations older than the profile too).
    package var sizeBytes: Int64
    /// Its part of the growth of every site that grew.
    package var share: Double
    /// The call path that grew most through it, most recent call first.
    package var traceback: [String]
    /// The target process it was found in.
    package var pid: Int32

    package var json: JSONValue {
        [
            "site": .string(site), "function": .string(function), "size_diff_bytes": .number(Double(sizeDiffBytes)),
            "count_diff": .number(Double(countDiff)), "size_bytes": .number(Double(sizeBytes)), "share_of_growth": .number((share * 1000).rounded() / 1000),
            "traceback": .array(traceback.map { .string($0) }), "pid": .number(Double(pid)),
        ]
    }

    /// `app.py:42 in leak() +3.1 MB (82%)`.
    package var summary: String {
        "\(site) in \(function)() +\(GrowthTracker.bytes(Double(sizeDiffBytes))) (\(Int((share * 100).rounded()))%)"
    }
}

/// What one profile found.
package struct LeakProfile: Sendable, Equatable {
    package var startedAt: Double
    package var seconds: Double
    package var trigger: ActionTrigger
    /// Top sites by growth, largest first (a group's agents merged by site).
    package var sites: [LeakSite]
    /// Growth of every site that grew.
    package var growthBytes: Int64
    /// tracemalloc's own memory at the end, summed over the agents.
    package var tracemallocBytes: UInt64
    /// The longest snapshot an agent took.
    package var snapshotSeconds: Double
    /// Agents that could not profile, and why.
    package var failures: [String]
    /// Whether the agent started tracing for this profile (then stopped it) or found it on.
    package var startedTracing: Bool

    package var json: JSONValue {
        [
            "started": .string(WallClock.rfc3339(startedAt)), "seconds": .number((seconds * 1000).rounded() / 1000),
            "trigger": .string(trigger.rawValue), "growth_bytes": .number(Double(growthBytes)), "sites": .array(sites.map(\.json)),
            "tracemalloc_bytes": .number(Double(tracemallocBytes)), "snapshot_seconds": .number((snapshotSeconds * 1_000_000).rounded() / 1_000_000),
            "started_tracing": .bool(startedTracing), "failures": .array(failures.map { .string($0) }),
        ]
    }
}

/// A leak episode as `GET /health/leaks` lists it.
package struct LeakEpisode: Sendable, Equatable {
    package var startedAt: Double
    package var alertID: String?
    package var message: String
    package var profile: LeakProfile?
    /// Why there are no sites (no agent, the profile failed), or that the profile is running.
    package var reason: String?

    package var json: JSONValue {
        [
            "started": .string(WallClock.rfc3339(startedAt)), "alert_id": alertID.map { .string($0) } ?? .null, "message": .string(message),
            "profile": profile?.json ?? .null, "reason": reason.map { .string($0) } ?? .null,
        ]
    }
}

/// Allocation sites on demand (issue 27): when a leak episode starts, the target's runtime agent
/// traces allocations for `monitoring.leak_detection.profile_seconds` and names the lines that
/// grew; the leak alert is updated with the top three. One profile at a time.
package final class LeakProfiler: Sendable {
    package enum Refusal: Error, CustomStringConvertible {
        case noAgent(String)
        case running

        package var description: String {
            switch self {
            case .noAgent(let reason): "no runtime agent answers for the target: \(reason)"
            case .running: "a profile is already running"
            }
        }
    }

    private struct State {
        var episodes: [LeakEpisode] = []
        var running = false
        var latest: LeakProfile?
    }

    private let state = Mutex(State())
    static let episodeCapacity = 50

    /// Where the profiles run: the check loop's task group.
    let tasks: ActionTasks

    package init(tasks: ActionTasks = ActionTasks()) { self.tasks = tasks }

    /// The newest profile's sites (for the metrics and /health/memory).
    package var latestSites: [LeakSite] { state.withLock { $0.latest?.sites ?? [] } }
    package var latest: LeakProfile? { state.withLock { $0.latest } }
    package var isRunning: Bool { state.withLock { $0.running } }
    /// Episodes, newest first.
    package var episodes: [LeakEpisode] { state.withLock { $0.episodes.reversed() } }

    /// Profiles the target's agents for `seconds`: starts tracing (if off), waits, takes the
    /// difference by line, stops what it started.
    package func profile(
        agents: [AgentEndpoint], seconds: Double, top: Int, depth: Int, timeout: Double, trigger: ActionTrigger
    ) async -> Result<LeakProfile, Refusal> {
        guard !agents.isEmpty else { return .failure(.noAgent("no agent socket found")) }
        let claimed = state.withLock { s -> Bool in
            if s.running { return false }
            s.running = true
            return true
        }
        guard claimed else { return .failure(.running) }
        defer { state.withLock { $0.running = false } }
        let startedAt = WallClock.now()
        var failures: [String] = []
        var started: [AgentEndpoint] = []
        var startedTracing = false
        for agent in agents {
            switch await Self.ask(agent, "profile_start", ["depth": .number(Double(depth))], timeout: timeout) {
            case .success(let body):
                started.append(agent)
                if case .object(let o) = body, case .bool(true)? = o["started_tracing"] { startedTracing = true }
            case .failure(let failure): failures.append("pid \(agent.pid): \(failure)")
            }
        }
        if !started.isEmpty { try? await Task.sleep(for: .milliseconds(Int64(seconds * 1000))) }
        var sites: [String: LeakSite] = [:]
        var growth: Int64 = 0
        var overhead: UInt64 = 0
        var snapshotSeconds = 0.0
        for agent in started {
            // Stopped even when cancelled: tracing this profile started must not stay on.
            switch await Self.ask(agent, "profile_stop", ["top": .number(Double(max(top, 10))), "depth": .number(Double(depth))], timeout: timeout) {
            case .failure(let failure): failures.append("pid \(agent.pid): \(failure)")
            case .success(let body):
                guard case .object(let o) = body else { continue }
                growth += o["growth_bytes"]?.boundedInteger ?? 0
                overhead += o["tracemalloc_bytes"]?.boundedCount ?? 0
                snapshotSeconds = max(snapshotSeconds, Self.number(o["snapshot_seconds"]))
                guard case .array(let list)? = o["sites"] else { continue }
                for case .object(let entry) in list {
                    guard case .string(let site)? = entry["site"] else { continue }
                    var function = "?"
                    if case .string(let f)? = entry["function"] { function = f }
                    var traceback: [String] = []
                    if case .array(let frames)? = entry["traceback"] { traceback = frames.compactMap { if case .string(let t) = $0 { t } else { nil } } }
                    let size = entry["size_diff_bytes"]?.boundedInteger ?? 0
                    let count = entry["count_diff"]?.boundedInteger ?? 0
                    let held = entry["size_bytes"]?.boundedInteger ?? 0
                    if var known = sites[site] {
                        known.sizeDiffBytes += size
                        known.countDiff += count
                        known.sizeBytes += held
                        sites[site] = known
                    } else {
                        sites[site] = LeakSite(
                            site: site, function: function, sizeDiffBytes: size, countDiff: count, sizeBytes: held, share: 0, traceback: traceback, pid: agent.pid)
                    }
                }
            }
        }
        var ranked = sites.values.sorted { $0.sizeDiffBytes != $1.sizeDiffBytes ? $0.sizeDiffBytes > $1.sizeDiffBytes : $0.site < $1.site }
        ranked = Array(ranked.prefix(top))
        for i in ranked.indices where growth > 0 && ranked[i].sizeDiffBytes > 0 {
            ranked[i].share = Double(ranked[i].sizeDiffBytes) / Double(growth)
        }
        if started.isEmpty { return .failure(.noAgent(failures.joined(separator: "; "))) }
        let profile = LeakProfile(
            startedAt: startedAt, seconds: WallClock.now() - startedAt, trigger: trigger, sites: ranked, growthBytes: growth,
            tracemallocBytes: overhead, snapshotSeconds: snapshotSeconds, failures: failures, startedTracing: startedTracing)
        state.withLock { $0.latest = profile }
        return .success(profile)
    }

    /// A leak episode started: its profile runs in the check loop's task group (`ActionTasks`), then the leak alert is
    /// updated (same id) with the top three sites. Without an agent the episode says why.
    package func episodeStarted(alert: Alert?, sample: Sample, monitor: MemoryMonitor) {
        let agents = (sample.runtime?.reachable ?? []).map { AgentEndpoint(pid: $0.pid, socket: $0.socket) }
        let message = alert?.message ?? "memory leak suspected"
        var episode = LeakEpisode(startedAt: sample.timestamp, alertID: alert?.id, message: message, profile: nil, reason: nil)
        guard monitor.configuration.monitoring.leakDetection.profile else {
            episode.reason = "no allocation sites: profiling is off (monitoring.leak_detection.profile)"
            record(episode)
            return
        }
        guard !agents.isEmpty else {
            episode.reason = "no allocation sites: " + (sample.runtime.map { "no runtime agent answers (\($0.reason ?? "none"))" }
                ?? "the target has no runtime agent probe (monitoring.agent.enabled is false, or the monitor watches itself)")
            record(episode)
            return
        }
        episode.reason = "profiling"
        record(episode)
        let c = monitor.configuration.monitoring.leakDetection
        // A snapshot grows with the traces: seconds once tracing has run a while. Off the check path.
        let timeout = max(60, monitor.configuration.autoResponse.actionTimeoutSeconds)
        tasks.submit { [self] in
            let result = await profile(agents: agents, seconds: c.profileSeconds, top: c.profileSites, depth: c.profileDepth, timeout: timeout, trigger: .auto)
            switch result {
            case .success(let profile):
                update(alertID: alert?.id) {
                    $0.profile = profile
                    $0.reason = profile.sites.isEmpty ? "the profile found no growing allocation site" : nil
                }
                if var updated = alert, !profile.sites.isEmpty {
                    let top = profile.sites.filter { $0.sizeDiffBytes > 0 }.prefix(3)
                    updated.timestamp = WallClock.now()
                    updated.revision += 1
                    updated.leakSites = .array(top.map(\.json))
                    updated.message = alert!.message + "; top allocation sites over \(Int(profile.seconds.rounded())) s: "
                        + top.map(\.summary).joined(separator: "; ")
                    monitor.alerts.dispatch([updated])
                }
                monitor.logger.notice(
                    "leak allocation sites",
                    metadata: [
                        "sites": "\(profile.sites.prefix(3).map(\.summary).joined(separator: "; "))", "growth_bytes": "\(profile.growthBytes)",
                        "tracemalloc_bytes": "\(profile.tracemallocBytes)",
                    ])
            case .failure(let refusal):
                update(alertID: alert?.id) { $0.reason = "no allocation sites: \(refusal)" }
                monitor.logger.warning("leak allocation sites not found", metadata: ["reason": "\(refusal)"])
            }
        }
    }

    private func record(_ episode: LeakEpisode) {
        state.withLock { s in
            s.episodes.append(episode)
            if s.episodes.count > Self.episodeCapacity { s.episodes.removeFirst(s.episodes.count - Self.episodeCapacity) }
        }
    }

    private func update(alertID: String?, _ change: (inout LeakEpisode) -> Void) {
        state.withLock { s in
            guard let index = s.episodes.lastIndex(where: { $0.alertID == alertID }) else { return }
            change(&s.episodes[index])
        }
    }

    static func number(_ v: JSONValue?) -> Double { if case .number(let n)? = v, n.isFinite { n } else { 0 } }

    static func ask(_ agent: AgentEndpoint, _ action: String, _ body: JSONValue, timeout: Double) async -> Result<JSONValue, AgentFailure> {
        await AgentActions.post(agent, action, body, timeout: timeout)
    }
}
