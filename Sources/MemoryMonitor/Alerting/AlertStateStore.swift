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
package final class AlertStateStore: Sendable {
    /// What the journal held at start.
    package struct Recovered: Sendable {
        /// Sent alerts, oldest first.
        package var history: [Alert]
        /// Deliveries not yet finished, in the order they were queued.
        package var pending: [(channel: String, alert: Alert)]
    }

    struct State {
        var journal: StateJournal
        var live: Recovered
        var lines: Int
    }

    package let path: String
    let retentionSeconds: Double
    private let state: Mutex<State>
    /// Where write failures go (counted and logged).
    let writeErrors = StateWriteErrors()
    /// Journals larger than this are not replayed (moved aside).
    static let maximumBytes = 64 << 20
    static let maximumHistory = 10_000

    /// What was read at start.
    package let recovered: Recovered
    /// What went wrong reading the journal at start (each skipped line, a file moved aside); log each.
    package let warnings: [String]

    /// Opens (creating) `directory/alerts.journal`, reads it, rewrites it with only what is still
    /// needed (pending deliveries, history younger than `retentionSeconds`), and returns both.
    ///
    /// Nothing unread is destroyed: a journal with lines it cannot read is kept aside
    /// (`alerts.journal.corrupt-<time>`, a hard link) before the rewrite, and where that fails it is
    /// not rewritten at all. A rewrite that fails (a full disk) leaves the journal as it was and
    /// the store appends to it. Throws only when the directory cannot hold a journal at all.
    package init(directory: String, retentionSeconds: Double) throws {
        var journal = StateJournal(directory: directory, name: "alerts.journal")
        path = journal.path
        self.retentionSeconds = retentionSeconds
        FileSystem.makeDirectories(directory)
        var warnings: [String] = []
        let (text, unreadable) = try FileSystem.readJournal(path, limit: Self.maximumBytes)
        if let unreadable { warnings.append(unreadable + " (undelivered alerts and history)") }
        let replayed = Self.replay(text)
        let journalPath = path
        warnings += replayed.skipped.prefix(20).map { "\(journalPath): line \($0.line) skipped: \($0.reason)" }
        if replayed.skipped.count > 20 { warnings.append("\(journalPath): \(replayed.skipped.count - 20) more lines skipped") }
        var recovered = replayed.recovered
        let cutoff = WallClock.now() - retentionSeconds
        recovered.history.removeAll { $0.timestamp < cutoff }
        let started = try journal.start(compactingTo: Self.text(recovered), hasUnreadLines: !replayed.skipped.isEmpty, errors: writeErrors)
        warnings += started.warnings
        let lines = started.compacted ? recovered.history.count + recovered.pending.count : replayed.lines
        state = Mutex(State(journal: journal, live: recovered, lines: lines))
        self.recovered = recovered
        self.warnings = warnings
    }

    /// The journal's text for `live`.
    private static func text(_ live: Recovered) -> String {
        var lines = ""
        for alert in live.history { lines += line(["t": "alert", "alert": alert.storedPayload]) }
        for (channel, alert) in live.pending {
            lines += line(["t": "queued", "channel": .string(channel), "alert": alert.storedPayload])
        }
        return lines
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

    /// Whether the file lacks entries held in memory (a write failed and has not been retried yet).
    package var isBehind: Bool { state.withLock { $0.journal.isBehind || $0.journal.fd < 0 } }

    /// Writes what the file lacks, if a write failed before (each check calls this).
    package func retryIfBehind() {
        state.withLock { s in
            guard s.journal.isBehind || s.journal.fd < 0 else { return }
            compact(&s)
        }
    }

    private func append(_ entry: JSONObject, _ update: (inout Recovered) -> Void) {
        let line = Self.line(entry)
        state.withLock { s in
            update(&s.live)
            // Behind: the line alone would leave a gap; the whole live state is written instead.
            guard !s.journal.isBehind && s.journal.fd >= 0 else { return compact(&s) }
            if let error = s.journal.append(line) {
                writeErrors.report(file: s.journal.name, error)
                return
            }
            s.lines += 1
            let liveCount = s.live.history.count + s.live.pending.count
            if s.lines > 2 * liveCount + 1000 { compact(&s) }
        }
    }

    /// Rewrites the file from the live state; a failure keeps the old file and is reported.
    private func compact(_ s: inout State) {
        let cutoff = WallClock.now() - retentionSeconds
        s.live.history.removeAll { $0.timestamp < cutoff }
        if let error = s.journal.replace(with: Self.text(s.live)) {
            writeErrors.report(file: s.journal.name, error)
        } else {
            s.lines = s.live.history.count + s.live.pending.count
            writeErrors.recovered(file: s.journal.name)
        }
    }

    deinit { state.withLock { $0.journal.closeFile() } }

    static func line(_ entry: JSONObject) -> String { JSONValue.object(entry).serialized + "\n" }

    /// Replays journal text. A torn last line (a crash mid-write) is ignored quietly; any other
    /// line that is not an entry is skipped, with its number and why. `lines` counts the lines read.
    static func replay(_ text: String) -> (recovered: Recovered, skipped: [(line: Int, reason: String)], lines: Int) {
        var history: [Alert] = []
        var pending: [(channel: String, alert: Alert)] = []
        var skipped: [(line: Int, reason: String)] = []
        let lines = text.split(separator: "\n", omittingEmptySubsequences: false)
        var count = 0
        for (index, line) in lines.enumerated() where !line.isEmpty {
            count += 1
            let isTornTail = index == lines.count - 1  // no newline after it
            guard case .object(let entry)? = try? JSONParser.parse(String(line)), case .string(let type) = entry["t"] else {
                if !isTornTail { skipped.append((index + 1, "not a JSON object with a \"t\" key")) }
                continue
            }
            switch type {
            case "alert":
                if let alert = entry["alert"].flatMap(Alert.init(payload:)) { history.append(alert) } else { skipped.append((index + 1, "not an alert this monitor wrote (a key missing or out of range)")) }
            case "queued":
                if case .string(let channel) = entry["channel"], let alert = entry["alert"].flatMap(Alert.init(payload:)) {
                    pending.append((channel, alert))
                } else {
                    skipped.append((index + 1, "not a queued alert this monitor wrote (a key missing or out of range)"))
                }
            case "done":
                if case .string(let channel) = entry["channel"], case .string(let id) = entry["id"] {
                    pending.removeAll { $0.channel == channel && $0.alert.id == id }
                } else {
                    skipped.append((index + 1, "a done entry without channel and id"))
                }
            default: skipped.append((index + 1, "unknown entry type"))
            }
        }
        return (Recovered(history: history, pending: pending), skipped, count)
    }
}

/// The state directory cannot be used.
package struct StateDirectoryError: Error, CustomStringConvertible {
    package var message: String
    package var description: String { message }
}
