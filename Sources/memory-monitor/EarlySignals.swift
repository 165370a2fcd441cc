#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import ServiceLifecycle
import Synchronization

/// SIGTERM or SIGINT that arrive after the listeners are bound but before the service group has
/// taken over signal handling would otherwise kill the process outright (exit by signal, no
/// graceful shutdown). They are recorded here and replayed as a graceful shutdown.
enum EarlySignals {
    private static let received = Atomic<Bool>(false)

    /// Installs the recording handler for SIGTERM and SIGINT.
    static func record() {
        let handler: @convention(c) (Int32) -> Void = { _ in EarlySignals.received.store(true, ordering: .relaxed) }
        signal(SIGTERM, handler)
        signal(SIGINT, handler)
        // SIGHUP's default action ends the process; until the reload service traps it, ignore it.
        signal(SIGHUP, SIG_IGN)
    }

    /// True when a signal arrived before the group took over.
    static var wasReceived: Bool { received.load(ordering: .relaxed) }
}

/// The first service of the group: by the time it runs, the group traps the signals itself; a
/// signal recorded before then starts the graceful shutdown now.
struct EarlySignalReplay: Service {
    let trigger: @Sendable () async -> Void

    func run() async throws {
        if EarlySignals.wasReceived { await trigger() }
        try? await gracefulShutdown()
    }
}
