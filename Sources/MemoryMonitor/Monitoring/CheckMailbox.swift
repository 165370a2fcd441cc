import Synchronization

/// How readers that need a fresh snapshot get one check between them: with a check loop running,
/// they leave a request and wake its thread, which runs one check and answers every request
/// waiting by then; without one, the first reader's check is awaited by the rest (single flight).
final class CheckMailbox: Sendable {
    private struct Requests {
        /// Set while a check loop runs: wakes its thread for a reader's check, a reload that
        /// changes the interval, or a check that found the target in another cgroup.
        var wake: (@Sendable () -> Void)?
        var waiting: [CheckedContinuation<MonitorSnapshot?, Never>] = []
    }

    private let requests = Mutex(Requests())
    /// The check a stale reader started, which later stale readers await too.
    private let inFlight = Mutex<Task<MonitorSnapshot, Never>?>(nil)

    /// A snapshot from a check run for this reader (and any others waiting): the loop's when one
    /// runs, else one started here or joined.
    func freshSnapshot(check: @escaping @Sendable () -> MonitorSnapshot) async -> MonitorSnapshot {
        let fromLoop = await withCheckedContinuation { (continuation: CheckedContinuation<MonitorSnapshot?, Never>) in
            let wake = requests.withLock { r -> (@Sendable () -> Void)? in
                guard let wake = r.wake else { return nil }
                r.waiting.append(continuation)
                return wake
            }
            if let wake { wake() } else { continuation.resume(returning: nil) }
        }
        if let fromLoop { return fromLoop }
        let task = inFlight.withLock { inFlight -> Task<MonitorSnapshot, Never> in
            if let running = inFlight { return running }
            let started = Task { [self] in
                let snapshot = check()
                self.inFlight.withLock { $0 = nil }
                return snapshot
            }
            inFlight = started
            return started
        }
        return await task.value
    }

    /// The check loop takes the requests: `wake` wakes its thread, which then calls `take()`.
    func accept(wake: @escaping @Sendable () -> Void) {
        requests.withLock { $0.wake = wake }
    }

    /// Wakes the loop's thread, if a loop runs.
    func wakeLoop() {
        requests.withLock { $0.wake }?()
    }

    /// Whether a reader waits for a check.
    var hasRequests: Bool { requests.withLock { !$0.waiting.isEmpty } }

    /// The readers waiting for a check; the caller runs one and resumes each with its snapshot.
    func take() -> [CheckedContinuation<MonitorSnapshot?, Never>] {
        requests.withLock { r in
            defer { r.waiting = [] }
            return r.waiting
        }
    }

    /// The check loop stops: readers still waiting (given nil) and later ones run their own check.
    func stop() {
        // Without a wake-up no reader is added any more: what is taken now is all.
        requests.withLock { $0.wake = nil }
        for continuation in take() { continuation.resume(returning: nil) }
    }
}
