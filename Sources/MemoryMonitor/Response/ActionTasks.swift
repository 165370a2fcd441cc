import Synchronization

/// Where the work a check starts but does not wait for runs: a round of actions, a change of a
/// runtime agent's gate, a leak episode's profile.
///
/// While a `CheckLoop` runs (the service the executable and an embedding service put in their
/// `ServiceGroup`), each job is a child of a task group that the loop's `run()` owns: graceful
/// shutdown stops the loop, cancels the jobs still running (a hook or command is stopped; a
/// command gets SIGTERM, then SIGKILL) and waits for them before the service returns.
///
/// Without a running loop (a library user that calls `check()` itself, tests, or a job submitted
/// after shutdown began) a job runs on a task of its own, which `waitForAll` and `cancelAll`
/// still reach.
package final class ActionTasks: Sendable {
    package typealias Job = @Sendable () async -> Void

    private struct State {
        /// Set while a loop's task group takes jobs.
        var intake: AsyncStream<Job>.Continuation?
        /// Jobs submitted and not finished, in the group or on tasks of their own.
        var running = 0
        /// Jobs running on tasks of their own, to cancel.
        var unowned: [UInt64: Task<Void, Never>] = [:]
        var nextID: UInt64 = 0
        var idleWaiters: [CheckedContinuation<Void, Never>] = []
    }

    private let state = Mutex(State())

    package init() {}

    /// Jobs submitted and not finished.
    package var runningCount: Int { state.withLock { $0.running } }

    /// Whether a loop's task group takes the jobs now (tests).
    package var isOwned: Bool { state.withLock { $0.intake != nil } }

    /// Runs `job` in the owning task group, or on a task of its own when none takes jobs.
    package func submit(_ job: @escaping Job) {
        let wrapped: Job = { [self] in
            await job()
            finished()
        }
        state.withLock { s in
            s.running += 1
            if let intake = s.intake, case .enqueued = intake.yield(wrapped) { return }
            s.nextID += 1
            let id = s.nextID
            s.unowned[id] = Task {
                await wrapped()
                self.state.withLock { _ = $0.unowned.removeValue(forKey: id) }
            }
        }
    }

    /// Takes jobs into a task group until `close()` or cancellation, then cancels the jobs still
    /// running and returns once they have ended. Called by `CheckLoop.run()`; `open()` must
    /// have been called first, so that no job submitted in between runs elsewhere.
    package func run(_ jobs: AsyncStream<Job>) async {
        await withDiscardingTaskGroup { group in
            for await job in jobs {
                group.addTask { await job() }
            }
            // Shutdown: the jobs still running are stopped, and awaited by the group.
            group.cancelAll()
        }
    }

    /// Starts taking jobs into a task group: the stream `run(_:)` consumes.
    package func open() -> AsyncStream<Job> {
        let (stream, continuation) = AsyncStream.makeStream(of: Job.self)
        state.withLock { s in
            s.intake?.finish()
            s.intake = continuation
        }
        return stream
    }

    /// Stops taking jobs into the group; later jobs run on tasks of their own.
    package func close() {
        let intake = state.withLock { s -> AsyncStream<Job>.Continuation? in
            defer { s.intake = nil }
            return s.intake
        }
        intake?.finish()
    }

    /// Cancels the jobs that run on tasks of their own (those in a group end with it).
    package func cancelAll() {
        for task in state.withLock({ Array($0.unowned.values) }) { task.cancel() }
    }

    /// Returns once no job is running (tests, shutdown).
    package func waitForAll() async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let idle = state.withLock { s -> Bool in
                guard s.running > 0 else { return true }
                s.idleWaiters.append(continuation)
                return false
            }
            if idle { continuation.resume() }
        }
    }

    private func finished() {
        let waiters = state.withLock { s -> [CheckedContinuation<Void, Never>] in
            s.running -= 1
            guard s.running == 0 else { return [] }
            defer { s.idleWaiters = [] }
            return s.idleWaiters
        }
        for waiter in waiters { waiter.resume() }
    }
}
