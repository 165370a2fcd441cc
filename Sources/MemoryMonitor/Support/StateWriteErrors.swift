import Synchronization

/// Write failures of the state directory's files. Counted per file from the first failure (also
/// before anyone listens), and passed to the listener the monitor attaches: it counts them in
/// `memory_state_write_errors_total{file}` and logs them.
final class StateWriteErrors: Sendable {
    /// What the listener hears: a failure of `file` (with the error), or that `file` is written again.
    enum Event: Sendable {
        case failed(file: String, error: String)
        case recovered(file: String)
    }

    private struct State {
        var unheard: [Event] = []
        var listener: (@Sendable (Event) -> Void)?
        var failing: Set<String> = []
    }

    private let state = Mutex(State())

    func report(file: String, _ error: String) {
        emit(.failed(file: file, error: error)) { s in
            s.failing.insert(file)
            return true
        }
    }

    /// `file` was written in full after failing.
    func recovered(file: String) {
        emit(.recovered(file: file)) { $0.failing.remove(file) != nil }
    }

    /// Attaches the listener; failures so far are passed to it at once.
    func listen(_ listener: @escaping @Sendable (Event) -> Void) {
        let unheard = state.withLock { s -> [Event] in
            s.listener = listener
            defer { s.unheard = [] }
            return s.unheard
        }
        for event in unheard { listener(event) }
    }

    private func emit(_ event: Event, _ update: (inout State) -> Bool) {
        let listener = state.withLock { s -> (@Sendable (Event) -> Void)? in
            guard update(&s) else { return nil }
            if s.listener == nil && s.unheard.count < 100 { s.unheard.append(event) }
            return s.listener
        }
        listener?(event)
    }
}
