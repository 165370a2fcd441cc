#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

extension MonitorConfiguration {
    /// `auto_response.*` (SPEC §8): the actions each level runs, and the rules every action follows.
    public struct AutoResponse: Sendable, Equatable {
        /// `enabled`: run actions at all.
        public var enabled = true
        /// `dry_run`: log and record what would run; run nothing.
        public var dryRun = false
        /// `cooldown_seconds`: the least time between two runs of one action at one level.
        public var cooldownSeconds: Double = 60
        /// `settle_seconds`: how long after an action that asks the target its effect is measured.
        public var settleSeconds: Double = 5
        /// `action_timeout_seconds`: an `http_hook` or `command` still running after this is killed.
        public var actionTimeoutSeconds: Double = 10
        /// `warning_actions` (SPEC §8: force a clean-up).
        public var warning = LevelActions(forceGC: true)
        /// `critical_actions`.
        public var critical = LevelActions(forceGC: true, clearCaches: true, throttle: true)
        /// `emergency_actions`.
        public var emergency = LevelActions(
            forceGC: true, gcCycles: 3, clearAllCaches: true, emergencyThrottle: true, stopNonEssential: true, prepareRestart: true)
        /// `admission_gate`: the concurrency limits of the embedded `AdmissionGate`.
        public var gate = Gate()

        /// The actions of `level`; nil for healthy.
        public func actions(for level: Severity) -> LevelActions? {
            switch level {
            case .healthy: nil
            case .warning: warning
            case .critical: critical
            case .emergency: emergency
            }
        }
    }

    /// `auto_response.<level>_actions`.
    public struct LevelActions: Sendable, Equatable {
        /// `force_gc`: in-process, `malloc_trim`; a sidecar asks the target through `signal` / `http_hook`.
        public var forceGC = false
        /// `multiple_gc_cycles`: how many times `force_gc` trims.
        public var gcCycles = 1
        /// `clear_caches`: cache clearers of normal priority.
        public var clearCaches = false
        /// `clear_all_caches`: every cache clearer.
        public var clearAllCaches = false
        /// `throttle_operations`: the admission gate shrinks to `admission_gate.critical_limit`.
        public var throttle = false
        /// `emergency_throttle`: the admission gate shrinks to `admission_gate.emergency_limit`.
        public var emergencyThrottle = false
        /// `stop_non_essential`: cancel the tasks registered as non-essential.
        public var stopNonEssential = false
        /// `prepare_restart`: call the prepare-for-restart hooks.
        public var prepareRestart = false
        /// `signal`: sent to the target (every process of a group).
        public var signal: NamedSignal?
        /// `http_hook`: the alert JSON is POSTed here.
        public var httpHook: String?
        /// `command`: an argv run without a shell, with the alert in its environment.
        public var command: [String]?
        /// `restart`: a signal to the target, guarded against restart loops.
        public var restart: Restart?

        public init(
            forceGC: Bool = false, gcCycles: Int = 1, clearCaches: Bool = false, clearAllCaches: Bool = false, throttle: Bool = false,
            emergencyThrottle: Bool = false, stopNonEssential: Bool = false, prepareRestart: Bool = false, signal: NamedSignal? = nil,
            httpHook: String? = nil, command: [String]? = nil, restart: Restart? = nil
        ) {
            self.forceGC = forceGC
            self.gcCycles = gcCycles
            self.clearCaches = clearCaches
            self.clearAllCaches = clearAllCaches
            self.throttle = throttle
            self.emergencyThrottle = emergencyThrottle
            self.stopNonEssential = stopNonEssential
            self.prepareRestart = prepareRestart
            self.signal = signal
            self.httpHook = httpHook
            self.command = command
            self.restart = restart
        }

        /// Whether anything here asks another process to act (`signal` or `http_hook`).
        public var asksTarget: Bool { signal != nil || httpHook != nil }
    }

    /// `auto_response.<level>_actions.restart`.
    public struct Restart: Sendable, Equatable {
        /// `signal` (default SIGTERM).
        public var signal = NamedSignal.term
        /// `max_per_hour`: restarts allowed within `window_seconds`; one more is refused and alerted.
        public var maxPerHour = 3
        /// `window_seconds`: the window `max_per_hour` counts in (3600; shorter in tests).
        public var windowSeconds: Double = 3600

        public init(signal: NamedSignal = .term, maxPerHour: Int = 3, windowSeconds: Double = 3600) {
            self.signal = signal
            self.maxPerHour = maxPerHour
            self.windowSeconds = windowSeconds
        }
    }

    /// `auto_response.admission_gate`.
    public struct Gate: Sendable, Equatable {
        /// `limit`: operations admitted at once while healthy or at warning.
        public var limit = 64
        /// `critical_limit`: the limit while critical with `throttle_operations`.
        public var criticalLimit = 16
        /// `emergency_limit`: the limit while emergency with `emergency_throttle`.
        public var emergencyLimit = 4
        /// `max_waiting`: callers that may wait; one more is rejected.
        public var maxWaiting = 1024
    }
}

/// A signal by name, as the configuration spells it.
public struct NamedSignal: Sendable, Equatable, CustomStringConvertible {
    public let name: String
    public let number: Int32

    public static let term = NamedSignal(name: "SIGTERM", number: SIGTERM)

    /// Signals an action may send to ask a target to clean up. Each terminates a process that has
    /// no handler, so the monitor checks the target's handler mask (SigCgt) before sending.
    public static let cleanupSignals: [NamedSignal] = [
        NamedSignal(name: "SIGUSR1", number: SIGUSR1), NamedSignal(name: "SIGUSR2", number: SIGUSR2), NamedSignal(name: "SIGHUP", number: SIGHUP),
    ]

    /// Signals a restart may send.
    public static let restartSignals: [NamedSignal] =
        [term, NamedSignal(name: "SIGINT", number: SIGINT), NamedSignal(name: "SIGQUIT", number: SIGQUIT), NamedSignal(name: "SIGKILL", number: SIGKILL)]
        + cleanupSignals

    /// `SIGUSR1`, `USR1` or `usr1` from `allowed`.
    public static func named(_ text: String, in allowed: [NamedSignal]) -> NamedSignal? {
        let upper = text.uppercased()
        let full = upper.hasPrefix("SIG") ? upper : "SIG" + upper
        return allowed.first { $0.name == full }
    }

    public var description: String { name }
}
