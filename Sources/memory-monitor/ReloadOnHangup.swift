import Logging
import MemoryMonitor
import ServiceLifecycle
import UnixSignals

/// SIGHUP: reopen the log file (logrotate) and reload the configuration. A configuration that
/// does not load keeps the old one in force and says why; alert state is never lost.
struct ReloadOnHangup: Service {
    let monitor: MemoryMonitor
    let sinks: [LogSink]
    let logger: Logger
    /// Reads the configuration again exactly as at start (file, environment, flags), with its
    /// unknown keys and warnings; the closure it is given takes the unknown keys of one that fails.
    let load: @Sendable (_ unknownKeysOfAFailure: @escaping ([String]) -> Void) throws -> (
        configuration: MonitorConfiguration, unknownKeys: [String], warnings: [String]
    )

    func run() async throws {
        let signals = await UnixSignalsSequence(trapping: .sighup)
        // The sequence ends when the task is cancelled; graceful shutdown cancels it.
        await cancelWhenGracefulShutdown {
            for await _ in signals {
                reload()
            }
        }
    }

    func reload() {
        for sink in sinks where sink.path != nil {
            do { try sink.reopen() } catch { logger.error("log file could not be reopened; still writing to the old one", metadata: ["error": "\(error)"]) }
        }
        // As at start: a misspelt key is ignored, and said (at start on standard error, before
        // the log is set up; here in the log, where a reload's outcome is read).
        let unknown = { (keys: [String]) in
            for key in keys { logger.warning("unknown configuration key is ignored", metadata: ["key": "\(key)"]) }
        }
        let configuration: MonitorConfiguration
        do {
            let loaded = try load(unknown)
            configuration = loaded.configuration
            unknown(loaded.unknownKeys)
            for warning in loaded.warnings { logger.warning("\(warning)") }
        } catch {
            logger.error("reload failed: the configuration in force is kept", metadata: ["error": "\(error)"])
            return
        }
        let report = monitor.reload(configuration)
        if let level = Logger.Level(rawValue: configuration.logging.level) { LogLevelControl.current = level }
        logger.notice(
            "configuration reloaded",
            metadata: [
                "applied": "\(report.applied.isEmpty ? "nothing changed" : report.applied.joined(separator: ", "))",
                "needs_restart": "\(report.needsRestart.joined(separator: ", "))",
            ])
        if !report.needsRestart.isEmpty {
            logger.warning("changed keys that take effect only after a restart kept their old values", metadata: ["keys": "\(report.needsRestart.joined(separator: "; "))"])
        }
    }
}
