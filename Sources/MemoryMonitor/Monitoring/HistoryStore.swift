#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import Synchronization

/// The check history in the state directory (`history.jsonl`, one line per check), so history and
/// the leak detector's window survive a restart. Compacted at start and whenever it holds twice
/// `capacity` lines. Written as `StateJournal` writes: a failed write keeps the old file and is
/// retried from the history in memory at the next check.
final class HistoryStore: Sendable {
    let path: String
    let capacity: Int
    private let state: Mutex<(journal: StateJournal, lines: Int)>
    /// Where write failures go (counted and logged).
    let writeErrors = StateWriteErrors()

    /// Opens `directory/history.jsonl`, keeps its last `capacity` entries and returns them, oldest first.
    init(directory: String, capacity: Int) throws {
        var journal = StateJournal(directory: directory, name: "history.jsonl")
        path = journal.path
        self.capacity = capacity
        FileSystem.makeDirectories(directory)
        // An unreadable history is moved aside, never overwritten (as the alert journal).
        let (text, unreadable) = try FileSystem.readJournal(path, limit: 256 << 20)
        var warnings = unreadable.map { [$0] } ?? []
        var entries: [SampleHistory.Entry] = []
        var skipped: [Int] = []
        let lines = text.split(separator: "\n", omittingEmptySubsequences: false)
        for (index, line) in lines.enumerated() where !line.isEmpty {
            if let value = try? JSONParser.parse(String(line)), let entry = Self.entry(value) {
                entries.append(entry)
            } else if index != lines.count - 1 {  // a torn last line is a crash mid-write
                skipped.append(index + 1)
            }
        }
        if !skipped.isEmpty {
            let named = skipped.prefix(20).map(String.init).joined(separator: ", ") + (skipped.count > 20 ? " and \(skipped.count - 20) more" : "")
            warnings.append("\(path): line(s) \(named) are not history entries (a key missing or a number out of range); skipped")
        }
        if entries.count > capacity { entries.removeFirst(entries.count - capacity) }
        recovered = entries
        let started = try journal.start(compactingTo: Self.text(entries), hasUnreadLines: !skipped.isEmpty, errors: writeErrors)
        warnings += started.warnings
        let count = started.compacted ? entries.count : lines.count
        self.warnings = warnings
        state = Mutex((journal, count))
    }

    /// What the file held at start, oldest first.
    let recovered: [SampleHistory.Entry]
    /// What went wrong reading it (a file moved aside, skipped lines); the monitor logs each.
    let warnings: [String]

    deinit { state.withLock { $0.journal.closeFile() } }

    /// Appends one check; compacts when the file has grown to twice the capacity, or rewrites it
    /// from `history` when an earlier write failed.
    func append(_ entry: SampleHistory.Entry, keeping history: () -> [SampleHistory.Entry]) {
        let line = Self.json(entry).serialized + "\n"
        state.withLock { s in
            if !s.journal.isBehind && s.journal.fd >= 0 {
                if let error = s.journal.append(line) {
                    writeErrors.report(file: s.journal.name, error)
                    return
                }
                s.lines += 1
                guard s.lines >= 2 * capacity else { return }
            }
            let entries = Array(history().suffix(capacity))
            if let error = s.journal.replace(with: Self.text(entries)) {
                writeErrors.report(file: s.journal.name, error)
            } else {
                s.lines = entries.count
                writeErrors.recovered(file: s.journal.name)
            }
        }
    }

    private static func text(_ entries: [SampleHistory.Entry]) -> String {
        entries.map { json($0).serialized + "\n" }.joined()
    }

    static func json(_ e: SampleHistory.Entry) -> JSONValue {
        func n(_ v: Double?) -> JSONValue { v.map { .number($0) } ?? .null }
        return .object([
            "t": .number(e.timestamp), "rss": n(e.rssMB), "vms": n(e.vmsMB), "anon": n(e.anonymousMB), "pct": n(e.percent),
            "avail": n(e.availableMB), "swap": n(e.swapPercent), "used": n(e.usedBytes), "limit": n(e.limitBytes), "dur": n(e.checkSeconds),
            "pid": n(e.pid.map { Double($0) }), "start": n(e.startTicks.map { Double($0) }),
        ])
    }

    /// A history entry, or nil when the line is not one this monitor wrote: a key of the wrong
    /// type, or a number out of the range the monitor can produce (a file can hold any number;
    /// none may reach a trapping conversion).
    static func entry(_ value: JSONValue) -> SampleHistory.Entry? {
        guard case .object(let o) = value, case .number(let t) = o["t"], WallClock.plausible.contains(t) else { return nil }
        var valid = true
        /// A figure in 0...limit, nil when absent or null; an invalid one fails the entry.
        func n(_ key: String, _ limit: Double) -> Double? {
            switch o[key] {
            case .none, .null?: return nil
            case .number(let v)? where v >= 0 && v <= limit: return v
            default:
                valid = false
                return nil
            }
        }
        let megabytes = 1e13  // 10 EB in MB, more than any machine
        let bytes = 9.2e18  // below Int64.max
        let pid = n("pid", Double(Int32.max)).flatMap { Int32(exactly: $0) }
        let start = n("start", bytes).flatMap { UInt64(exactly: $0) }
        let entry = SampleHistory.Entry(
            timestamp: t, rssMB: n("rss", megabytes), vmsMB: n("vms", megabytes), percent: n("pct", 1e6), availableMB: n("avail", megabytes),
            swapPercent: n("swap", 1e6), checkSeconds: n("dur", 1e6), anonymousMB: n("anon", megabytes), usedBytes: n("used", bytes),
            limitBytes: n("limit", bytes), pid: pid, startTicks: start)
        if o["pid"] != nil && o["pid"] != .null && (pid == nil || pid == 0) { return nil }
        if o["start"] != nil && o["start"] != .null && start == nil { return nil }
        return valid ? entry : nil
    }
}
