import Synchronization

/// A concurrency limit an embedding service awaits around its work:
/// `try await monitor.gate.admit { … }`. The automatic response shrinks the limit at critical
/// (`throttle_operations`) and more at emergency (`emergency_throttle`), and restores it when
/// the level falls. Callers beyond the limit wait in order; beyond `max_waiting` they are rejected.
public final class AdmissionGate: Sendable {
    /// Thrown by `admit` when `max_waiting` callers are waiting already.
    public struct Rejected: Error, CustomStringConvertible {
        public let limit: Int
        public let waiting: Int
        public var description: String { "admission gate full: \(waiting) waiting at limit \(limit)" }
    }

    /// The gate's counts right now.
    public struct Status: Sendable, Equatable {
        public var limit: Int
        public var inFlight: Int
        public var waiting: Int
        public var rejected: UInt64
    }

    private struct Waiter {
        var id: UInt64
        var continuation: CheckedContinuation<Void, any Error>
    }

    private struct State {
        var limit: Int
        var inFlight = 0
        var waiters: [Waiter] = []
        var nextID: UInt64 = 0
        var rejected: UInt64 = 0
    }

    private let state: Mutex<State>
    let maxWaiting: Int
    private let onReject: @Sendable () -> Void

    /// A gate admitting `limit` at once, with at most `maxWaiting` callers waiting.
    public init(limit: Int, maxWaiting: Int, onReject: @escaping @Sendable () -> Void = {}) {
        state = Mutex(State(limit: max(1, limit)))
        self.maxWaiting = maxWaiting
        self.onReject = onReject
    }

    /// Runs `operation` once admitted. Throws `Rejected` when the queue is full, and
    /// `CancellationError` when the caller is cancelled while it waits.
    public func admit<T: Sendable>(_ operation: () async throws -> T) async throws -> T {
        try await acquire()
        defer { release() }
        return try await operation()
    }

    /// The current limit, in-flight and waiting counts.
    public var status: Status {
        state.withLock { Status(limit: $0.limit, inFlight: $0.inFlight, waiting: $0.waiters.count, rejected: $0.rejected) }
    }

    /// Sets the limit; waiters are admitted at once if it grew. Work already admitted finishes.
    public func setLimit(_ limit: Int) {
        let resumed = state.withLock { s -> [Waiter] in
            s.limit = max(1, limit)
            return Self.admitWaiting(&s)
        }
        for waiter in resumed { waiter.continuation.resume() }
    }

    private func acquire() async throws {
        try Task.checkCancellation()
        enum Outcome { case admitted, rejected(Rejected), wait, cancelled }
        let id = state.withLock { s -> UInt64 in
            s.nextID += 1
            return s.nextID
        }
        try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
                let outcome = state.withLock { s -> Outcome in
                    if s.inFlight < s.limit && s.waiters.isEmpty {
                        s.inFlight += 1
                        return .admitted
                    }
                    // Checked under the lock: a cancellation handler that ran before this found no waiter.
                    if Task.isCancelled { return .cancelled }
                    if s.waiters.count >= maxWaiting {
                        s.rejected += 1
                        return .rejected(Rejected(limit: s.limit, waiting: s.waiters.count))
                    }
                    s.waiters.append(Waiter(id: id, continuation: continuation))
                    return .wait
                }
                switch outcome {
                case .admitted: continuation.resume()
                case .rejected(let error):
                    onReject()
                    continuation.resume(throwing: error)
                case .cancelled: continuation.resume(throwing: CancellationError())
                case .wait: break
                }
            }
        } onCancel: {
            let removed = state.withLock { s -> Waiter? in
                guard let index = s.waiters.firstIndex(where: { $0.id == id }) else { return nil }
                return s.waiters.remove(at: index)
            }
            removed?.continuation.resume(throwing: CancellationError())
        }
    }

    private func release() {
        let resumed = state.withLock { s -> [Waiter] in
            s.inFlight -= 1
            return Self.admitWaiting(&s)
        }
        for waiter in resumed { waiter.continuation.resume() }
    }

    private static func admitWaiting(_ s: inout State) -> [Waiter] {
        var resumed: [Waiter] = []
        while s.inFlight < s.limit, !s.waiters.isEmpty {
            s.inFlight += 1
            resumed.append(s.waiters.removeFirst())
        }
        return resumed
    }
}
