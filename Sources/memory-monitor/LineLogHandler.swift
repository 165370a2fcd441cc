#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import Logging
import MemoryMonitor

/// Where log lines go: standard error, or a file opened for appending.
final class LogSink: @unchecked Sendable {
    // Safe to share: every write is one write(2) call on a descriptor that is never closed.
    private let fd: Int32

    init(fd: Int32) { self.fd = fd }

    /// Opens `path` for appending, creating it and its directory.
    static func file(_ path: String) throws -> LogSink {
        if let slash = path.lastIndex(of: "/") {
            let directory = String(path[..<slash])
            if !directory.isEmpty { FileSystem.makeDirectories(directory) }
        }
        let fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw LogFileError(path: path, reason: String(cString: strerror(errno))) }
        return LogSink(fd: fd)
    }

    func write(_ line: String) { FileSystem.writeAll(fd, line) }
}

struct LogFileError: Error, CustomStringConvertible {
    var path: String
    var reason: String
    var description: String { "cannot open log file \(path): \(reason)" }
}

/// One line per event: `2026-11-26T15:00:00Z info memory-monitor: message key=value ...`.
struct LineLogHandler: LogHandler {
    var logLevel: Logger.Level
    var metadata: Logger.Metadata = [:]
    let label: String
    let sinks: [LogSink]

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(event: LogEvent) {
        var line = "\(WallClock.rfc3339(WallClock.now())) \(event.level) \(label): \(event.message)"
        let merged = metadata.merging(event.metadata ?? [:]) { $1 }
        for key in merged.keys.sorted() { line += " \(key)=\(merged[key]!)" }
        line += "\n"
        for sink in sinks { sink.write(line) }
    }
}
