#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import Synchronization

/// The state directory: an append-only, fsynced journal of sent alerts and of each channel's
/// pending deliveries, so a restart or crash neither loses an undelivered alert nor re-sends one
/// already delivered. Compacted at start and again while running, whenever the file holds more
/// than twice what is live (plus 1000 lines).
///
/// What it cannot read it never overwrites: an unreadable or oversized journal is moved aside
/// (`alerts.journal.unread-<time>`), and each line it cannot parse is named in `warnings`.
public final class AlertStateStore: Sendable {
    /// What the journal held at start.
    public struct Recovered: Sendable {
        /// Sent alerts, oldest first.
        public var history: [Alert]
        /// Deliveries not yet finished, in the order they were queued.
        public var pending: [(channel: String, alert: Alert)]
    }

    struct State {
        var fd: Int32
        var live: Recovered
        var lines: Int
    }

    public let path: String
    let retentionSeconds: Double
    private let state: Mutex<State>
    /// Journals larger than this are not replayed (moved aside).
    static let maximumBytes = 64 << 20
    static let maximumHistory = 10_000

    /// What was read at start.
    public let recovered: Recovered
    /// What went wrong reading the journal at start (each skipped line, a file moved aside); log each.
    public let warnings: [String]

    /// Opens (creating) `directory/alerts.journal`, reads it, rewrites it with only what is still
    /// needed (pending deliveries, history younger than `retentionSeconds`), and returns both.
    /// Throws when the directory cannot be written, or a journal it could not read cannot be moved aside.
    public init(directory: String, retentionSeconds: Double) throws {
        path = directory + "/alerts.journal"
        self.retentionSeconds = retentionSeconds
        FileSystem.makeDirectories(directory)
        var warnings: [String] = []
        let (text, unreadable) = try FileSystem.readJournal(path, limit: Self.maximumBytes)
        if let unreadable { warnings.append(unreadable + " (undelivered alerts and history)") }
        let replayed = Self.replay(text)
        let journal = path
        warnings += replayed.skipped.map { "\(journal): line \($0) is not a journal entry; skipped" }
        var recovered = replayed.recovered
        let cutoff = WallClock.now() - retentionSeconds
        recovered.history.removeAll { $0.timestamp < cutoff }
        let fd = try Self.rewrite(journal, recovered)
        state = Mutex(State(fd: fd, live: recovered, lines: recovered.history.count + recovered.pending.count))
        self.recovered = recovered
        self.warnings = warnings
    }

    /// Writes `live` to a new file and returns it opened for appending.
    private static func rewrite(_ path: String, _ live: Recovered) throws -> Int32 {
        var lines = ""
        for alert in live.history { lines += line(["t": "alert", "alert": alert.storedPayload]) }
        for (channel, alert) in live.pending {
            lines += line(["t": "queued", "channel": .string(channel), "alert": alert.storedPayload])
        }
        return try FileSystem.replaceJournal(path, with: lines)
    }

    /// Records a sent alert (history).
    func recordSent(_ alert: Alert) {
        append(["t": "alert", "alert": alert.storedPayload]) { live in
            live.history.append(alert)
            if live.history.count > Self.maximumHistory { live.history.removeFirst(live.history.count - Self.maximumHistory) }
        }
    }

    /// Records that `channel` must deliver `alert`.
    func recordQueued(_ alert: Alert, channel: String) {
        append(["t": "queued", "channel": .string(channel), "alert": alert.storedPayload]) { $0.pending.append((channel, alert)) }
    }

    /// Records that `channel` is done with alert `id` (delivered, or dropped for good).
    func recordDone(id: String, channel: String) {
        append(["t": "done", "channel": .string(channel), "id": .string(id)]) { live in
            live.pending.removeAll { $0.channel == channel && $0.alert.id == id }
        }
    }

    /// Lines in the file now (tests).
    var lineCount: Int { state.withLock { $0.lines } }

    private func append(_ entry: JSONObject, _ update: (inout Recovered) -> Void) {
        let line = Self.line(entry)
        state.withLock { s in
            FileSystem.writeAll(s.fd, line)
            fsync(s.fd)
            update(&s.live)
            s.lines += 1
            let liveCount = s.live.history.count + s.live.pending.count
            guard s.lines > 2 * liveCount + 1000 else { return }
            let cutoff = WallClock.now() - retentionSeconds
            s.live.history.removeAll { $0.timestamp < cutoff }
            // A failed compaction keeps appending to the old file: nothing is lost.
            if let fd = try? Self.rewrite(path, s.live) {
                close(s.fd)
                s.fd = fd
                s.lines = s.live.history.count + s.live.pending.count
            }
        }
    }

    deinit { state.withLock { _ = close($0.fd) } }

    static func line(_ entry: JSONObject) -> String { JSONValue.object(entry).serialized + "\n" }

    /// Replays journal text. A torn last line (a crash mid-write) is ignored quietly; any other
    /// line that is not an entry is skipped and its number returned.
    static func replay(_ text: String) -> (recovered: Recovered, skipped: [Int]) {
        var history: [Alert] = []
        var pending: [(channel: String, alert: Alert)] = []
        var skipped: [Int] = []
        let lines = text.split(separator: "\n", omittingEmptySubsequences: false)
        for (index, line) in lines.enumerated() where !line.isEmpty {
            let isTornTail = index == lines.count - 1  // no newline after it
            guard case .object(let entry)? = try? JSONParser.parse(String(line)), case .string(let type) = entry["t"] else {
                if !isTornTail { skipped.append(index + 1) }
                continue
            }
            switch type {
            case "alert":
                if let alert = entry["alert"].flatMap(Alert.init(payload:)) { history.append(alert) } else { skipped.append(index + 1) }
            case "queued":
                if case .string(let channel) = entry["channel"], let alert = entry["alert"].flatMap(Alert.init(payload:)) {
                    pending.append((channel, alert))
                } else {
                    skipped.append(index + 1)
                }
            case "done":
                if case .string(let channel) = entry["channel"], case .string(let id) = entry["id"] {
                    pending.removeAll { $0.channel == channel && $0.alert.id == id }
                } else {
                    skipped.append(index + 1)
                }
            default: skipped.append(index + 1)
            }
        }
        return (Recovered(history: history, pending: pending), skipped)
    }
}

/// The state directory cannot be used.
public struct StateDirectoryError: Error, CustomStringConvertible {
    public var message: String
    public var description: String { message }
}
