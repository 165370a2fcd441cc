#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import AsyncHTTPClient
import NIOCore
import NIOPosix

/// What one kind of action does: one type per action, as one type per alert channel. The
/// automatic response plans, runs, measures and records; the runner only acts, through the
/// narrow environment it is given (never the whole monitor).
protocol ResponseActionRunner: Sendable {
    var action: ResponseAction { get }
    /// True when it asks the target (a signal, a hook, a command): its effect is measured on a
    /// fresh sample after `settle_seconds`. False when it acts in the monitor's own process and
    /// is measured right after it returns.
    var asksTarget: Bool { get }
    /// It acts only inside a service that embeds the library (skipped in a sidecar).
    var isInProcessOnly: Bool { get }
    /// A clean-up that a sidecar can only ask the target for (through `signal` or `http_hook`).
    var isCleanup: Bool { get }
    /// Whether a level's configuration runs it.
    func isConfigured(_ actions: MonitorConfiguration.LevelActions) -> Bool
    /// What a dry run says it would do ("send SIGUSR1 to pid 4242").
    func intent(_ environment: ActionEnvironment) -> String
    /// Acts, and says how it went.
    func run(_ environment: ActionEnvironment) async -> (ActionResult, String)
    /// Acts, and says how it went with what it counted (objects, through the target's agent).
    func perform(_ environment: ActionEnvironment) async -> ActionOutcome
}

extension ResponseActionRunner {
    var asksTarget: Bool { false }
    var isInProcessOnly: Bool { false }
    var isCleanup: Bool { false }
    func perform(_ environment: ActionEnvironment) async -> ActionOutcome { await outcome(of: environment) }

    /// `run`'s answer as an outcome: what an action does without the target's agent.
    func outcome(of environment: ActionEnvironment) async -> ActionOutcome {
        let (result, detail) = await run(environment)
        return ActionOutcome(result: result, detail: detail)
    }
}

/// How an action went.
struct ActionOutcome: Sendable {
    var result: ActionResult
    var detail: String
    var objectsBefore: UInt64? = nil
    var objectsAfter: UInt64? = nil
    var collectedObjects: UInt64? = nil
}

extension ActionOutcome {
    var resultAndDetail: (ActionResult, String) { (result, detail) }
}

/// Where one of the target's runtime agents listens.
package struct AgentEndpoint: Sendable, Equatable {
    package init(pid: Int32, socket: String) {
        self.pid = pid
        self.socket = socket
    }

    var pid: Int32
    var socket: String
}

/// Asks the target's runtime agents (clients/python) to act: one request per agent, on a thread
/// of NIO's blocking pool (never a cooperative thread), each within the action timeout.
enum AgentActions {
    struct Answer: Sendable {
        var pid: Int32
        var result: Result<JSONValue, AgentFailure>
    }

    static func ask(_ e: ActionEnvironment, _ action: String, _ body: JSONValue) async -> [Answer] {
        var answers: [Answer] = []
        // The agent's own timeout (for clearers and hooks) runs out first, so it can say which one hung.
        for endpoint in e.agents {
            answers.append(Answer(pid: endpoint.pid, result: await post(endpoint, action, body, timeout: e.timeoutSeconds + 5)))
        }
        return answers
    }

    /// One action of one agent: its answer's body, or why not (the agent's `error` when it refused).
    static func post(_ agent: AgentEndpoint, _ action: String, _ body: JSONValue, timeout: Double) async -> Result<JSONValue, AgentFailure> {
        do {
            return try await NIOThreadPool.singleton.runIfActive {
                switch UnixHTTP.request(agent.socket, method: "POST", path: "/actions/\(action)?wait=1", body: body, timeout: timeout) {
                case .success(let answer) where answer.status == 200: return .success(answer.body)
                case .success(let answer):
                    var message = "status \(answer.status)"
                    if case .object(let o) = answer.body, case .string(let m)? = o["error"] { message += ": \(m)" }
                    return .failure(AgentFailure(description: message))
                case .failure(let failure): return .failure(failure)
                }
            }
        } catch {
            return .failure(AgentFailure(description: "not run: \(error)"))
        }
    }

    static func number(_ v: JSONValue?) -> UInt64? { v?.boundedCount }

    /// The outcome of an action that ran the agents' callables (clearers, hooks): failed when any failed.
    static func callables(_ answers: [Answer], key: String, what: String) -> ActionOutcome {
        var parts: [String] = []
        var failed = 0
        var ran = 0
        for answer in answers {
            switch answer.result {
            case .failure(let failure):
                failed += 1
                parts.append("pid \(answer.pid): \(failure)")
            case .success(let body):
                guard case .object(let o) = body, case .array(let list)? = o[key] else { continue }
                for case .object(let entry) in list {
                    ran += 1
                    var name = "?"
                    if case .string(let n)? = entry["name"] { name = n }
                    var result = "ok"
                    if case .string(let r)? = entry["result"] { result = r }
                    var seconds = 0.0
                    if case .number(let d)? = entry["duration_seconds"] { seconds = d }
                    var text = "\(name) \(result) in \(JSONValue.format((seconds * 1000).rounded() / 1000)) s"
                    if result != "ok" {
                        failed += 1
                        if case .string(let error)? = entry["error"] { text += " (\(error))" }
                    }
                    parts.append(text)
                }
            }
        }
        let summary = "\(ran) \(what) in the target's agent" + (parts.isEmpty ? "" : ": " + parts.joined(separator: "; "))
        return ActionOutcome(result: failed > 0 ? .failed : .ok, detail: summary)
    }
}

/// What an action may see and touch.
struct ActionEnvironment: Sendable {
    /// The level the actions run for, and why (`auto`, or `manual` for POST /health/actions/gc).
    var level: Severity
    var trigger: ActionTrigger
    /// The alert that announced the level, if any.
    var alert: Alert?
    /// The sample the level was reached in.
    var sample: Sample
    /// The level's configuration.
    var actions: MonitorConfiguration.LevelActions
    var timeoutSeconds: Double
    /// The target is the monitor's own process.
    var inProcess: Bool
    /// The processes of the target now: those of the sample, less those a fresh sample after an
    /// earlier action found gone.
    var members: [Sample.TargetProcess.Member]
    /// The processes of the target when the level was reached.
    var original: [Sample.TargetProcess.Member]
    /// Why the target is gone, when it is.
    var goneReason: String?
    /// The level's `memory_*_mb`.
    var thresholdMB: Double
    /// What an embedding service registered.
    var hooks: EmbeddingHooks
    /// The target's runtime agents that answered the last check.
    var agents: [AgentEndpoint] = []

    /// The clean-up runs inside the target, through its agents.
    var viaAgent: Bool { !inProcess && !agents.isEmpty }
}

/// The actions, in the order a level runs them.
enum ResponseActionRunners {
    static let all: [any ResponseActionRunner] = [
        TrimRunner(), CacheClearRunner(all: false), CacheClearRunner(all: true), GateRunner(emergency: false), GateRunner(emergency: true),
        StopNonEssentialRunner(), PrepareRestartRunner(), SignalRunner(), HTTPHookRunner(), CommandRunner(), RestartRunner(),
    ]

    private static let byAction: [ResponseAction: any ResponseActionRunner] = Dictionary(uniqueKeysWithValues: all.map { ($0.action, $0) })

    static func runner(for action: ResponseAction) -> any ResponseActionRunner { byAction[action]! }

    /// The actions a level's configuration runs, in order.
    static func configured(_ actions: MonitorConfiguration.LevelActions) -> [ResponseAction] {
        all.filter { $0.isConfigured(actions) }.map(\.action)
    }
}

// MARK: In the monitor's own process

/// `force_gc`: glibc's `malloc_trim`, `multiple_gc_cycles` times (once for a manual clean-up).
struct TrimRunner: ResponseActionRunner {
    var action: ResponseAction { .forceGC }
    var isCleanup: Bool { true }
    func isConfigured(_ a: MonitorConfiguration.LevelActions) -> Bool { a.forceGC }
    func cycles(_ e: ActionEnvironment) -> Int { e.trigger == .manual ? 1 : e.actions.gcCycles }
    func intent(_ e: ActionEnvironment) -> String { "run malloc_trim \(cycles(e)) time(s)" }

    func run(_ e: ActionEnvironment) async -> (ActionResult, String) {
        let cycles = cycles(e)
        var released = false
        for _ in 0..<cycles { released = AllocatorStatistics.trim() || released }
        return (.ok, "malloc_trim ran \(cycles) time(s)\(released ? "" : "; nothing was returned to the kernel")")
    }

    /// Through the target's agent: `gc.collect()` `cycles` times, then `malloc_trim(0)`.
    func perform(_ e: ActionEnvironment) async -> ActionOutcome {
        guard e.viaAgent else { return await outcome(of: e) }
        let cycles = cycles(e)
        let answers = await AgentActions.ask(e, "gc", ["generation": 2, "cycles": .number(Double(cycles))])
        var outcome = ActionOutcome(result: .ok, detail: "")
        var parts: [String] = []
        var failed = 0
        for answer in answers {
            switch answer.result {
            case .failure(let failure):
                failed += 1
                parts.append("pid \(answer.pid): \(failure)")
            case .success(let body):
                guard case .object(let o) = body, let before = AgentActions.number(o["objects_before"]),
                    let after = AgentActions.number(o["objects_after"]), let collected = AgentActions.number(o["collected_total"])
                else {
                    failed += 1
                    parts.append("pid \(answer.pid): an answer this monitor does not read")
                    continue
                }
                outcome.objectsBefore = (outcome.objectsBefore ?? 0) + before
                outcome.objectsAfter = (outcome.objectsAfter ?? 0) + after
                outcome.collectedObjects = (outcome.collectedObjects ?? 0) + collected
                var perCycle = ""
                if case .array(let list)? = o["collected"] { perCycle = list.compactMap { AgentActions.number($0).map(String.init) }.joined(separator: "+") }
                var trimmed = ""
                if case .bool(let t)? = o["malloc_trim"] { trimmed = t ? "; malloc_trim returned memory" : "; malloc_trim had nothing to return" }
                parts.append("pid \(answer.pid): objects \(before) → \(after), collected \(perCycle.isEmpty ? String(collected) : perCycle)\(trimmed)")
            }
        }
        outcome.result = failed == answers.count ? .failed : .ok
        outcome.detail = "gc.collect() ran \(cycles) time(s) in the target's agent: " + parts.joined(separator: "; ")
        return outcome
    }
}

/// `clear_caches` (the normal-priority clearers) and `clear_all_caches` (every clearer).
struct CacheClearRunner: ResponseActionRunner {
    let all: Bool
    var action: ResponseAction { all ? .clearAllCaches : .clearCaches }
    var isCleanup: Bool { true }
    func isConfigured(_ a: MonitorConfiguration.LevelActions) -> Bool { all ? a.clearAllCaches : a.clearCaches && !a.clearAllCaches }
    func intent(_ e: ActionEnvironment) -> String { all ? "run every cache clearer" : "run the normal-priority cache clearers" }

    func run(_ e: ActionEnvironment) async -> (ActionResult, String) {
        let clearers = e.hooks.clearers(all: all)
        for clear in clearers { clear() }
        return (.ok, "\(clearers.count) cache clearer(s) ran")
    }

    func perform(_ e: ActionEnvironment) async -> ActionOutcome {
        guard e.viaAgent else { return await outcome(of: e) }
        let answers = await AgentActions.ask(e, "clear_caches", ["priority": .string(all ? "all" : "normal"), "timeout": .number(e.timeoutSeconds)])
        return AgentActions.callables(answers, key: "clearers", what: all ? "cache clearer(s) of every priority ran" : "normal-priority cache clearer(s) ran")
    }
}

/// `throttle_operations` and `emergency_throttle`: the admission gate follows the level at each
/// check (`AutoResponse.updateGate`), so there is nothing to run in a round.
struct GateRunner: ResponseActionRunner {
    let emergency: Bool
    var action: ResponseAction { emergency ? .emergencyThrottle : .throttle }
    var isInProcessOnly: Bool { true }
    func isConfigured(_ a: MonitorConfiguration.LevelActions) -> Bool { false }
    /// Whether the level shrinks the gate this way (for the sidecar warning).
    func shrinksGate(_ a: MonitorConfiguration.LevelActions) -> Bool { emergency ? a.emergencyThrottle : a.throttle }
    func intent(_ e: ActionEnvironment) -> String { "shrink the admission gate" }
    func run(_ e: ActionEnvironment) async -> (ActionResult, String) { (.ok, "the admission gate follows the level") }
}

/// `stop_non_essential`: cancels the work registered as non-essential.
struct StopNonEssentialRunner: ResponseActionRunner {
    var action: ResponseAction { .stopNonEssential }
    var isInProcessOnly: Bool { true }
    func isConfigured(_ a: MonitorConfiguration.LevelActions) -> Bool { a.stopNonEssential }
    func intent(_ e: ActionEnvironment) -> String { "cancel the non-essential tasks" }

    func run(_ e: ActionEnvironment) async -> (ActionResult, String) {
        let cancels = e.hooks.takeNonEssential()
        for cancel in cancels { cancel() }
        return (.ok, "\(cancels.count) non-essential task(s) cancelled")
    }

    func perform(_ e: ActionEnvironment) async -> ActionOutcome {
        guard e.viaAgent else { return await outcome(of: e) }
        let answers = await AgentActions.ask(e, "stop_non_essential", ["timeout": .number(e.timeoutSeconds)])
        return AgentActions.callables(answers, key: "stopped", what: "non-essential task(s) stopped")
    }
}

/// `prepare_restart`: awaits the prepare-for-restart hooks, each within the action timeout.
struct PrepareRestartRunner: ResponseActionRunner {
    var action: ResponseAction { .prepareRestart }
    var isInProcessOnly: Bool { true }
    func isConfigured(_ a: MonitorConfiguration.LevelActions) -> Bool { a.prepareRestart }
    func intent(_ e: ActionEnvironment) -> String { "call the prepare-for-restart hooks" }

    func run(_ e: ActionEnvironment) async -> (ActionResult, String) {
        let hooks = e.hooks.prepareHooks()
        var timedOut = 0
        for hook in hooks {
            do { try await withTimeout(seconds: e.timeoutSeconds) { await hook() } } catch { timedOut += 1 }
        }
        if timedOut > 0 {
            return (.failed, "\(timedOut) of \(hooks.count) prepare-for-restart hook(s) ran past \(JSONValue.format(e.timeoutSeconds)) s")
        }
        return (.ok, "\(hooks.count) prepare-for-restart hook(s) ran")
    }

    func perform(_ e: ActionEnvironment) async -> ActionOutcome {
        guard e.viaAgent else { return await outcome(of: e) }
        let answers = await AgentActions.ask(e, "prepare_restart", ["timeout": .number(e.timeoutSeconds)])
        return AgentActions.callables(answers, key: "hooks", what: "prepare-for-restart hook(s) ran")
    }
}

// MARK: Asking the target

/// `signal`: the level's clean-up signal to the target's leaves (the workers, not the wrappers
/// that would forward it to a child without a handler), each checked for a handler first.
struct SignalRunner: ResponseActionRunner {
    var action: ResponseAction { .signal }
    var asksTarget: Bool { true }
    func isConfigured(_ a: MonitorConfiguration.LevelActions) -> Bool { a.signal != nil }

    static func recipients(_ members: [Sample.TargetProcess.Member]) -> [Sample.TargetProcess.Member] { members.filter(\.isLeaf) }

    func intent(_ e: ActionEnvironment) -> String {
        "send \(e.actions.signal?.name ?? "?") to pid \(Self.recipients(e.members).map { String($0.pid) }.joined(separator: ","))"
    }

    func run(_ e: ActionEnvironment) async -> (ActionResult, String) {
        guard let signal = e.actions.signal else { return (.skipped, "no signal configured") }
        guard !e.members.isEmpty else { return (.skipped, "the target is gone (\(e.goneReason ?? "no process")); nothing is signalled") }
        return TargetSignal.send(signal, to: Self.recipients(e.members), requireHandler: true, allowOwnProcess: e.inProcess)
    }
}

/// `restart`: the restart signal to the target's roots (the wrapper or pre-fork master, which
/// stops its children), and only to processes that were the target when the level was reached.
struct RestartRunner: ResponseActionRunner {
    var action: ResponseAction { .restart }
    var asksTarget: Bool { true }
    func isConfigured(_ a: MonitorConfiguration.LevelActions) -> Bool { a.restart != nil }

    static func recipients(_ members: [Sample.TargetProcess.Member]) -> [Sample.TargetProcess.Member] { members.filter(\.isRoot) }

    func intent(_ e: ActionEnvironment) -> String {
        "send \(e.actions.restart?.signal.name ?? "?") to pid \(Self.recipients(e.members).map { String($0.pid) }.joined(separator: ","))"
    }

    func run(_ e: ActionEnvironment) async -> (ActionResult, String) {
        guard let restart = e.actions.restart else { return (.skipped, "no restart configured") }
        guard !e.members.isEmpty else { return (.skipped, "the target is gone (\(e.goneReason ?? "no process")); nothing is signalled") }
        // A successor that a supervisor started meanwhile is not the process that needed the restart.
        let known = Set(e.original.map { Sampler.Identity(pid: $0.pid, startTicks: $0.startTicks) })
        let roots = Self.recipients(e.members)
        let meant = roots.filter { known.contains(Sampler.Identity(pid: $0.pid, startTicks: $0.startTicks)) }
        guard !meant.isEmpty else {
            let now = roots.map { String($0.pid) }.joined(separator: ",")
            return (.skipped, "the target changed since the level was reached (now pid \(now)); not restarted")
        }
        return TargetSignal.send(restart.signal, to: meant, requireHandler: false, allowOwnProcess: e.inProcess)
    }
}

/// `http_hook`: POSTs the alert's SPEC §7 JSON with `trigger`, `action_level` and `target_pids`.
struct HTTPHookRunner: ResponseActionRunner {
    var action: ResponseAction { .httpHook }
    var asksTarget: Bool { true }
    func isConfigured(_ a: MonitorConfiguration.LevelActions) -> Bool { a.httpHook != nil }
    func intent(_ e: ActionEnvironment) -> String { "POST the alert to the http_hook" }

    /// The hook's body: the alert's payload, or one built from the sample for a manual clean-up.
    static func body(_ e: ActionEnvironment) -> JSONValue {
        var object: JSONObject
        if let alert = e.alert, case .object(let payload) = alert.payload {
            object = payload
        } else {
            let usage = Double(e.sample.process?.status.residentBytes ?? 0) / 1_048_576
            object = [
                "timestamp": .string(WallClock.rfc3339(WallClock.now())),
                "severity": .string(e.level.description),
                "component": .string(Component.processMemory.rawValue),
                "memory_usage": .number(Alert.round1(usage)),
                "threshold": .number(Alert.round1(e.thresholdMB)),
                "message": .string("clean-up requested (\(e.trigger == .manual ? "POST /health/actions/gc" : "automatic response"))"),
                "status": .string(e.trigger == .manual ? "manual" : "firing"),
            ]
        }
        object["trigger"] = .string(e.trigger.rawValue)
        object["action_level"] = .string(e.level.description)
        object["target_pids"] = .array(e.members.map { .number(Double($0.pid)) })
        return .object(object)
    }

    func run(_ e: ActionEnvironment) async -> (ActionResult, String) {
        guard let url = e.actions.httpHook else { return (.skipped, "no http_hook configured") }
        var request = HTTPClientRequest(url: url)
        request.method = .POST
        request.headers.add(name: "Content-Type", value: "application/json")
        request.headers.add(name: "User-Agent", value: "memory-monitor/\(MonitorMetrics.version)")
        request.body = .bytes(ByteBuffer(string: Self.body(e).serialized))
        let prepared = request
        let timeout = e.timeoutSeconds
        do {
            let status = try await withTimeout(seconds: timeout) {
                let response = try await HTTPClient.shared.execute(prepared, timeout: .milliseconds(Int64(timeout * 1000)))
                _ = try? await response.body.collect(upTo: 64 * 1024)
                return response.status.code
            }
            if (200..<300).contains(status) { return (.ok, "http_hook answered \(status)") }
            return (.failed, "http_hook answered \(status)")
        } catch is TimeoutError {
            return (.failed, "http_hook did not answer within \(JSONValue.format(timeout)) s")
        } catch {
            // AsyncHTTPClient errors do not carry the URL, which may hold a secret.
            return (.failed, "http_hook failed: \(error)")
        }
    }
}

/// `command`: runs without a shell, with the alert's fields as its only environment.
struct CommandRunner: ResponseActionRunner {
    var action: ResponseAction { .command }
    var asksTarget: Bool { true }
    func isConfigured(_ a: MonitorConfiguration.LevelActions) -> Bool { a.command != nil }
    func intent(_ e: ActionEnvironment) -> String { "run \(e.actions.command?.first ?? "?")" }

    /// PATH and the alert's fields only: the monitor's own environment may hold secrets.
    static func environment(_ e: ActionEnvironment) -> [String: String] {
        let usage = Double(e.sample.process?.status.residentBytes ?? 0) / 1_048_576
        let pids = e.members.map(\.pid)
        var env: [String: String] = [
            "PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
            "MEMORY_ALERT_SEVERITY": e.level.description,
            "MEMORY_ALERT_COMPONENT": (e.alert?.component ?? .processMemory).rawValue,
            "MEMORY_TARGET_PID": pids.first.map(String.init) ?? "",
            "MEMORY_TARGET_PIDS": pids.map(String.init).joined(separator: ","),
            "MEMORY_USAGE_MB": JSONValue.format(Alert.round1(usage)),
            "MEMORY_THRESHOLD_MB": JSONValue.format(e.thresholdMB),
            "MEMORY_ACTION_TRIGGER": e.trigger.rawValue,
        ]
        if let alert = e.alert { env["MEMORY_ALERT_MESSAGE"] = alert.message }
        return env
    }

    func run(_ e: ActionEnvironment) async -> (ActionResult, String) {
        guard let argv = e.actions.command else { return (.skipped, "no command configured") }
        return await CommandAction.run(argv, environment: Self.environment(e), timeout: e.timeoutSeconds)
    }
}
