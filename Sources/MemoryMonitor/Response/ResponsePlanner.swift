/// Decides which actions run, from the level a check reached: cooldowns per action and level,
/// the restart-loop guard, dry run, and what a sidecar can and cannot do. Pure state: the
/// clock is passed in, so tests drive it.
struct ResponsePlanner: Sendable {
    /// One decision.
    struct Planned: Sendable, Equatable {
        enum Decision: Sendable, Equatable {
            case run
            case dryRun
            case skip(String)
            /// Not run because a guard refused it (the restart loop guard): a person is told.
            case refuse(String)
        }
        var action: ResponseAction
        var decision: Decision
    }

    struct Key: Hashable, Sendable {
        var level: Severity
        var action: ResponseAction
    }

    var configuration: MonitorConfiguration.AutoResponse
    /// The target is the monitor's own process (embedded): in-process actions can act.
    let inProcess: Bool
    private(set) var lastRun: [Key: Double] = [:]
    /// Times of restarts sent (monotonic seconds), oldest first.
    private(set) var restarts: [Double] = []
    /// When each level last started a round of actions (monotonic seconds).
    private(set) var lastRound: [Severity: Double] = [:]

    init(configuration: MonitorConfiguration.AutoResponse, inProcess: Bool) {
        self.configuration = configuration
        self.inProcess = inProcess
    }

    /// The configured actions of `level`, in run order. Throttling is not here: the gate follows
    /// the level every check (see `gateLimit`).
    static func configured(_ a: MonitorConfiguration.LevelActions) -> [ResponseAction] { ResponseActionRunners.configured(a) }

    /// Why `action` cannot act in a sidecar, or nil when it can.
    func sidecarSkipReason(_ action: ResponseAction, _ a: MonitorConfiguration.LevelActions, level: Severity, agentPresent: Bool = false) -> String? {
        guard !inProcess, !agentPresent else { return nil }
        let runner = ResponseActionRunners.runner(for: action)
        if runner.isInProcessOnly {
            return "\(action.rawValue) acts only inside a service that embeds the MemoryMonitor library; the target is another process"
        }
        if runner.isCleanup && !a.asksTarget {
            return "\(action.rawValue) in a sidecar asks the target through signal or http_hook, and \(level)_actions sets neither"
        }
        return nil
    }

    /// The actions due at `level` now, each with its decision; marks them run (cooldown) and
    /// counts restarts. A sidecar's clean-up actions fold into the signal or hook that carries them.
    ///
    /// At most one round per level starts within `minimumRoundSeconds` (the check interval),
    /// whatever the cooldown: the check an action's settle wait asks for must not start the next
    /// round of the same actions.
    ///
    /// With `agentPresent` (the target's runtime agent answered) the clean-up and in-process
    /// actions run inside the target through the agent, next to any signal or hook.
    mutating func plan(level: Severity, now: Double, minimumRoundSeconds: Double = 0, agentPresent: Bool = false) -> [Planned] {
        guard configuration.enabled, let actions = configuration.actions(for: level) else { return [] }
        if let last = lastRound[level], now - last < minimumRoundSeconds { return [] }
        var planned: [Planned] = []
        for action in Self.configured(actions) {
            if !inProcess && !agentPresent && ResponseActionRunners.runner(for: action).isCleanup && actions.asksTarget { continue }
            let key = Key(level: level, action: action)
            if let last = lastRun[key], now - last < configuration.cooldownSeconds { continue }
            lastRun[key] = now
            if let reason = sidecarSkipReason(action, actions, level: level, agentPresent: agentPresent) {
                planned.append(Planned(action: action, decision: .skip(reason)))
                continue
            }
            if action == .restart, let restart = actions.restart {
                restarts.removeAll { now - $0 >= restart.windowSeconds }
                if restarts.count >= restart.maxPerHour {
                    let reason =
                        "restart loop refused: \(restarts.count) restarts in the last \(JSONValue.format(restart.windowSeconds)) s (max_per_hour \(restart.maxPerHour))"
                    planned.append(Planned(action: action, decision: .refuse(reason)))
                    continue
                }
                if !configuration.dryRun { restarts.append(now) }
            }
            planned.append(Planned(action: action, decision: configuration.dryRun ? .dryRun : .run))
        }
        if !planned.isEmpty { lastRound[level] = now }
        return planned
    }

    /// The clean-up a manual request runs: the warning level's clean-up actions (in-process) or
    /// what asks the target (sidecar); no cooldown, no command, no restart.
    func manualPlan(agentPresent: Bool = false) -> [Planned] {
        let actions = configuration.warning
        var list: [ResponseAction]
        if inProcess || agentPresent {
            list = [.forceGC]
            if actions.clearAllCaches { list.append(.clearAllCaches) } else if actions.clearCaches { list.append(.clearCaches) }
            if actions.signal != nil { list.append(.signal) }
            if actions.httpHook != nil { list.append(.httpHook) }
        } else {
            list = []
            if actions.signal != nil { list.append(.signal) }
            if actions.httpHook != nil { list.append(.httpHook) }
        }
        return list.map { Planned(action: $0, decision: configuration.dryRun ? .dryRun : .run) }
    }

    /// The admission gate's limit at `level`: shrunk at critical with `throttle_operations`,
    /// more at emergency with `emergency_throttle`, the normal limit otherwise.
    func gateLimit(level: Severity) -> (limit: Int, action: ResponseAction?) {
        let gate = configuration.gate
        guard configuration.enabled, let actions = configuration.actions(for: level) else { return (gate.limit, nil) }
        if actions.emergencyThrottle { return (gate.emergencyLimit, .emergencyThrottle) }
        if actions.throttle { return (gate.criticalLimit, .throttle) }
        return (gate.limit, nil)
    }
}
