import Logging

/// Which PSI trigger the check loop waits on: the target cgroup's `memory.pressure` (cgroup v2)
/// or the host's `/proc/pressure/memory`, armed with `monitoring.pressure_trigger`. The check
/// loop follows it after every check it runs, so a target whose cgroup changes is followed; where
/// the kernel or permissions refuse the trigger, checks stay on the interval and `/health/memory`
/// says why. Owned by the check loop's thread.
package struct PressureWatch {
    /// What the watch is doing, for `/health/memory`.
    package enum Status: Sendable, Equatable {
        case off
        case armed(path: String)
        case unavailable(reason: String)
    }

    let spec: String?
    let monitor: MemoryMonitor
    let logger: Logger
    /// The trigger armed now, if any.
    private(set) var trigger: PressureTrigger?
    /// The last refused path and when: a refusal is retried every 10 s, a new path at once.
    private var refused: (path: String, at: ContinuousClock.Instant)?

    init(monitor: MemoryMonitor, logger: Logger) {
        self.spec = monitor.configuration.monitoring.pressureTrigger
        self.monitor = monitor
        self.logger = logger
        monitor.setPressureStatus(.off)
    }

    /// Arms the trigger on the file `snapshot` points to, unless it is armed there already.
    mutating func follow(_ snapshot: MonitorSnapshot) {
        guard let spec else { return }
        let path = Self.path(for: snapshot)
        if trigger?.path == path { return }
        if let refused, refused.path == path, ContinuousClock.now - refused.at < .seconds(10) { return }
        switch PressureTrigger.arm(path: path, spec: spec) {
        case .success(let armed):
            trigger = armed
            refused = nil
            monitor.setPressureStatus(.armed(path: path))
            logger.info("memory pressure trigger armed", metadata: ["path": "\(path)", "trigger": "\(spec)"])
        case .failure(let failure):
            trigger = nil
            refused = (path, .now)
            let reason = "\(path): the kernel refused the trigger \"\(spec)\": \(failure)"
            monitor.setPressureStatus(.unavailable(reason: reason))
            logger.warning("memory pressure trigger unavailable; checks stay on the interval", metadata: ["reason": "\(reason)"])
        }
    }

    /// The armed file went away (its cgroup was removed): the next `follow` arms the new one.
    mutating func lost() {
        if let trigger { logger.notice("memory pressure trigger lost: its file is gone", metadata: ["path": "\(trigger.path)"]) }
        trigger = nil
    }

    /// The target cgroup's `memory.pressure` when cgroup v2 controls its memory, else the host's.
    static func path(for snapshot: MonitorSnapshot) -> String {
        if snapshot.sample.cgroup?.version == .v2, let directory = snapshot.sample.cgroupDirectory {
            return directory + "/memory.pressure"
        }
        return "/proc/pressure/memory"
    }
}
