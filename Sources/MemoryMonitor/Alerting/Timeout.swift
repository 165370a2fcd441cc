import Synchronization

/// The operation did not finish in time.
struct TimeoutError: Error, CustomStringConvertible {
    var seconds: Double
    var description: String { "timed out after \(seconds) s" }
}

/// A race between an operation and a timer; whichever ends first resumes the caller once.
private final class TimeoutRace<T: Sendable>: Sendable {
    struct State {
        var continuation: CheckedContinuation<T, any Error>?
        var work: Task<Void, Never>?
        var timer: Task<Void, Never>?
    }
    let state = Mutex(State())

    func finish(_ result: Result<T, any Error>) {
        let (continuation, work, timer) = state.withLock { s in
            defer { s = State() }
            return (s.continuation, s.work, s.timer)
        }
        guard let continuation else { return }
        work?.cancel()
        timer?.cancel()
        continuation.resume(with: result)
    }
}

/// Runs `operation` in its own task and returns its result, or throws `TimeoutError` after
/// `seconds` and cancels it. Unlike a task group, it does not wait for an operation that ignores
/// cancellation (a hung custom handler), so a caller is never held past the timeout.
func withTimeout<T: Sendable>(seconds: Double, _ operation: @escaping @Sendable () async throws -> T) async throws -> T {
    let race = TimeoutRace<T>()
    return try await withTaskCancellationHandler {
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<T, any Error>) in
            race.state.withLock { $0.continuation = continuation }
            let work = Task {
                do { race.finish(.success(try await operation())) } catch { race.finish(.failure(error)) }
            }
            let timer = Task {
                try? await Task.sleep(for: .seconds(seconds))
                if !Task.isCancelled { race.finish(.failure(TimeoutError(seconds: seconds))) }
            }
            let running = race.state.withLock { s -> Bool in
                guard s.continuation != nil else { return false }
                s.work = work
                s.timer = timer
                return true
            }
            if !running {
                work.cancel()
                timer.cancel()
            }
        }
    } onCancel: {
        race.finish(.failure(CancellationError()))
    }
}
