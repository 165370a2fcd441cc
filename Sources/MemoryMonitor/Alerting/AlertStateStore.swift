#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import Synchronization

/// The state directory: an append-only, fsynced journal of sent alerts and of each channel's
/// pending deliveries, so a restart or crash neither loses an undelivered alert nor re-sends one
/// already delivered. Compacted at start.
public final class AlertStateStore: Sendable {
    /// What the journal held at start.
    public struct Recovered: Sendable {
        /// Sent alerts, oldest first.
        public var history: [Alert]
        /// Deliveries not yet finished, in the order they were queued.
        public var pending: [(channel: String, alert: Alert)]
    }

    public let path: String
    private let fd: Mutex<Int32>

    /// Opens (creating) `directory/alerts.journal`, reads it, rewrites it with only what is still
    /// needed (pending deliveries, history younger than `retentionSeconds`), and returns both.
    public init(directory: String, retentionSeconds: Double) throws {
        path = directory + "/alerts.journal"
        FileSystem.makeDirectories(directory)
        let text = ProcFile.read(path, limit: 64 << 20) ?? ""
        var recovered = Self.replay(text)
        let cutoff = WallClock.now() - retentionSeconds
        recovered.history.removeAll { $0.timestamp < cutoff }
        // Compact: write the survivors to a new file, fsync, rename over the old one.
        var lines = ""
        for alert in recovered.history { lines += Self.line(["t": "alert", "alert": alert.storedPayload]) }
        for (channel, alert) in recovered.pending {
            lines += Self.line(["t": "queued", "channel": .string(channel), "alert": alert.storedPayload])
        }
        let temporary = path + ".tmp"
        let out = open(temporary, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
        guard out >= 0 else { throw StateDirectoryError(message: "cannot write \(temporary): \(String(cString: strerror(errno)))") }
        FileSystem.writeAll(out, lines)
        fsync(out)
        close(out)
        guard rename(temporary, path) == 0 else { throw StateDirectoryError(message: "cannot replace \(path): \(String(cString: strerror(errno)))") }
        let appendFD = open(path, O_WRONLY | O_APPEND | O_CLOEXEC)
        guard appendFD >= 0 else { throw StateDirectoryError(message: "cannot open \(path): \(String(cString: strerror(errno)))") }
        fd = Mutex(appendFD)
        self.recovered = recovered
    }

    /// What was read at start.
    public let recovered: Recovered

    /// Records a sent alert (history).
    func recordSent(_ alert: Alert) { append(["t": "alert", "alert": alert.storedPayload]) }

    /// Records that `channel` must deliver `alert`.
    func recordQueued(_ alert: Alert, channel: String) {
        append(["t": "queued", "channel": .string(channel), "alert": alert.storedPayload])
    }

    /// Records that `channel` is done with alert `id` (delivered, or dropped for good).
    func recordDone(id: String, channel: String) { append(["t": "done", "channel": .string(channel), "id": .string(id)]) }

    private func append(_ entry: JSONObject) {
        let line = Self.line(entry)
        fd.withLock { fd in
            FileSystem.writeAll(fd, line)
            fsync(fd)
        }
    }

    deinit { fd.withLock { _ = close($0) } }

    static func line(_ entry: JSONObject) -> String { JSONValue.object(entry).serialized + "\n" }

    /// Replays journal text: a torn last line (a crash mid-write) is ignored.
    static func replay(_ text: String) -> Recovered {
        var history: [Alert] = []
        var pending: [(channel: String, alert: Alert)] = []
        for line in text.split(separator: "\n") {
            guard case .object(let entry)? = try? JSONParser.parse(String(line)), case .string(let type) = entry["t"] else { continue }
            switch type {
            case "alert":
                if let alert = entry["alert"].flatMap(Alert.init(payload:)) { history.append(alert) }
            case "queued":
                if case .string(let channel) = entry["channel"], let alert = entry["alert"].flatMap(Alert.init(payload:)) {
                    pending.append((channel, alert))
                }
            case "done":
                if case .string(let channel) = entry["channel"], case .string(let id) = entry["id"] {
                    pending.removeAll { $0.channel == channel && $0.alert.id == id }
                }
            default: continue
            }
        }
        return Recovered(history: history, pending: pending)
    }
}

/// The state directory cannot be used.
public struct StateDirectoryError: Error, CustomStringConvertible {
    public var message: String
    public var description: String { message }
}
