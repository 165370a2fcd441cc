import NIOPosix
import Synchronization

/// Builds the expensive health reports (the metric history: up to 100 000 entries, hundreds of
/// milliseconds) off the event loop, one at a time, and reuses each for the snapshot it was built
/// from.
///
/// - One thread for all of them (a pool of its own, shared by every server in the process): a
///   burst of history readers takes at most one core, and the event loops keep the other for
///   scrapes.
/// - Render once, serve many: a reply is kept with the snapshot generation and the query it
///   answers; until the next check, the same request is answered from it. A request that waited
///   behind the build of the same reply takes that reply (the builds are serial, so this is a
///   single flight).
final class ReportBuilder: Sendable {
    /// The thread reports are built on; it lives as long as the process.
    private static let thread: NIOThreadPool = {
        let pool = NIOThreadPool(numberOfThreads: 1)
        pool.start()
        return pool
    }()

    /// The last replies built, newest last.
    private let replies = Mutex<[(key: String, response: Response)]>([])
    static let capacity = 8

    /// The reply for `key` (which must name the snapshot generation and the query), built by
    /// `build` unless a reply for it was kept. The build runs on the reports' thread, or with
    /// `onReportThread: false` (a cheap report that must not wait behind a history build) on the
    /// task pool.
    func reply(key: String, onReportThread: Bool = true, build: @escaping @Sendable () -> Response) -> Reply {
        if let kept = kept(key) { return .now(kept) }
        guard onReportThread else {
            return .later { [self] in keep(key, build()) }
        }
        return .later { [self] in
            do {
                return try await Self.thread.runIfActive { [self] in
                    if let kept = kept(key) { return kept }
                    return keep(key, build())
                }
            } catch {
                return .error(.serviceUnavailable, "the server is shutting down")
            }
        }
    }

    private func keep(_ key: String, _ response: Response) -> Response {
        replies.withLock { list in
            list.append((key, response))
            if list.count > Self.capacity { list.removeFirst(list.count - Self.capacity) }
        }
        return response
    }

    private func kept(_ key: String) -> Response? {
        replies.withLock { list in list.last { $0.key == key }?.response }
    }
}
