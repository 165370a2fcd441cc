import Synchronization

/// What a service that embeds the library registers for the in-process actions: cache clearers,
/// non-essential work, prepare-for-restart hooks.
final class EmbeddingHooks: Sendable {
    private struct State {
        var clearers: [(priority: AutoResponse.CachePriority, clear: @Sendable () -> Void)] = []
        var nonEssential: [UInt64: @Sendable () -> Void] = [:]
        var prepareHooks: [@Sendable () async -> Void] = []
        var nextID: UInt64 = 0
    }

    private let state = Mutex(State())

    func addCacheClearer(priority: AutoResponse.CachePriority, _ clear: @escaping @Sendable () -> Void) {
        state.withLock { $0.clearers.append((priority, clear)) }
    }

    /// The clearers `clear_caches` runs (normal priority), or `clear_all_caches` (all).
    func clearers(all: Bool) -> [@Sendable () -> Void] {
        state.withLock { $0.clearers }.filter { all || $0.priority == .normal }.map(\.clear)
    }

    func registerNonEssential(cancel: @escaping @Sendable () -> Void) -> UInt64 {
        state.withLock { s in
            s.nextID += 1
            s.nonEssential[s.nextID] = cancel
            return s.nextID
        }
    }

    func unregisterNonEssential(_ id: UInt64) {
        _ = state.withLock { $0.nonEssential.removeValue(forKey: id) }
    }

    /// The non-essential work's cancel functions, unregistered (each is cancelled once).
    func takeNonEssential() -> [@Sendable () -> Void] {
        state.withLock { s in
            defer { s.nonEssential.removeAll() }
            return Array(s.nonEssential.values)
        }
    }

    func onPrepareForRestart(_ hook: @escaping @Sendable () async -> Void) {
        state.withLock { $0.prepareHooks.append(hook) }
    }

    func prepareHooks() -> [@Sendable () async -> Void] { state.withLock { $0.prepareHooks } }
}
