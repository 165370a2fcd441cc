#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import Logging
import MemoryMonitor
import Synchronization

/// Where log lines go: standard error, or a file opened for appending (reopened on SIGHUP, so
/// logrotate can move it away).
final class LogSink: Sendable {
    private let fd: Mutex<Int32>
    let path: String?

    init(fd: Int32) {
        self.fd = Mutex(fd)
        self.path = nil
    }

    private init(fd: Int32, path: String) {
        self.fd = Mutex(fd)
        self.path = path
    }

    /// Opens `path` for appending, creating it and its directory.
    static func file(_ path: String) throws -> LogSink {
        LogSink(fd: try open(path), path: path)
    }

    private static func open(_ path: String) throws -> Int32 {
        if let slash = path.lastIndex(of: "/") {
            let directory = String(path[..<slash])
            if !directory.isEmpty { FileSystem.makeDirectories(directory) }
        }
        let fd = Glibc.open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw LogFileError(path: path, reason: String(cString: strerror(errno))) }
        return fd
    }

    /// Opens the file again (after logrotate moved it); a failure keeps the old descriptor.
    func reopen() throws {
        guard let path else { return }
        let new = try Self.open(path)
        let old = fd.withLock { fd -> Int32 in
            defer { fd = new }
            return fd
        }
        close(old)
    }

    func write(_ line: String) { fd.withLock { _ = FileSystem.writeAll($0, line) } }
}

/// The level every handler filters at; a reload changes it.
enum LogLevelControl {
    private static let level = Atomic<Int>(Logger.Level.info.rank)

    static var current: Logger.Level {
        get { Logger.Level.allCases.first { $0.rank == level.load(ordering: .relaxed) } ?? .info }
        set { level.store(newValue.rank, ordering: .relaxed) }
    }
}

extension Logger.Level {
    fileprivate var rank: Int { Logger.Level.allCases.firstIndex(of: self) ?? 2 }
}

/// `logging.format`: one line of text, or one JSON object per line.
enum LogFormat: Sendable {
    case text
    case json
}

struct LogFileError: Error, CustomStringConvertible {
    var path: String
    var reason: String
    var description: String { "cannot open log file \(path): \(reason)" }
}

/// One line per event: `2026-11-26T15:00:00Z info memory-monitor: message key=value ...`, or
/// with `logging.format: json` one JSON object (`time`, `level`, `logger`, `msg`, then metadata).
/// Control characters in messages and values are escaped: nothing can forge a log line.
struct LineLogHandler: LogHandler {
    var logLevel: Logger.Level {
        get { LogLevelControl.current }
        set { LogLevelControl.current = newValue }
    }
    var metadata: Logger.Metadata = [:]
    let label: String
    let sinks: [LogSink]
    let format: LogFormat

    init(label: String, sinks: [LogSink], format: LogFormat) {
        self.label = label
        self.sinks = sinks
        self.format = format
    }

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(event: LogEvent) {
        let merged = metadata.merging(event.metadata ?? [:]) { $1 }
        let time = WallClock.rfc3339(WallClock.now())
        var line: String
        switch format {
        case .text:
            line = "\(time) \(event.level) \(label): \(Self.escaped("\(event.message)"))"
            for key in merged.keys.sorted() { line += " \(key)=\(Self.escaped("\(merged[key]!)"))" }
        case .json:
            var object: JSONObject = [
                "time": .string(time), "level": .string("\(event.level)"), "logger": .string(label), "msg": .string("\(event.message)"),
            ]
            for key in merged.keys.sorted() where object[key] == nil { object[key] = .string("\(merged[key]!)") }
            line = JSONValue.object(object).serialized
        }
        line += "\n"
        for sink in sinks { sink.write(line) }
    }

    /// CR, LF and other control characters as \r, \n, \u{..}: one event, one line.
    static func escaped(_ text: String) -> String {
        guard text.unicodeScalars.contains(where: { $0.value < 0x20 || $0.value == 0x7F }) else { return text }
        var out = ""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case _ where scalar.value < 0x20 || scalar.value == 0x7F: out += "\\u{\(String(scalar.value, radix: 16))}"
            default: out.unicodeScalars.append(scalar)
            }
        }
        return out
    }
}
