#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import Synchronization

/// The check history in the state directory (`history.jsonl`, one line per check), so history and
/// the leak detector's window survive a restart. Compacted at start and whenever it holds twice
/// `capacity` lines.
final class HistoryStore: Sendable {
    let path: String
    let capacity: Int
    private let state: Mutex<(fd: Int32, lines: Int)>

    /// Opens `directory/history.jsonl`, keeps its last `capacity` entries and returns them, oldest first.
    init(directory: String, capacity: Int) throws {
        path = directory + "/history.jsonl"
        self.capacity = capacity
        FileSystem.makeDirectories(directory)
        // An unreadable history is moved aside, never overwritten (as the alert journal).
        let (text, unreadable) = try FileSystem.readJournal(path, limit: 256 << 20)
        var warnings = unreadable.map { [$0] } ?? []
        var entries: [SampleHistory.Entry] = []
        var skipped = 0
        for line in text.split(separator: "\n") {
            if let value = try? JSONParser.parse(String(line)), let entry = Self.entry(value) { entries.append(entry) } else { skipped += 1 }
        }
        if skipped > 0 { warnings.append("\(path): \(skipped) line(s) were not history entries and were skipped") }
        self.warnings = warnings
        if entries.count > capacity { entries.removeFirst(entries.count - capacity) }
        recovered = entries
        let fd = try Self.rewrite(path, entries)
        state = Mutex((fd, entries.count))
    }

    /// What the file held at start, oldest first.
    let recovered: [SampleHistory.Entry]
    /// What went wrong reading it (a file moved aside, skipped lines); the monitor logs each.
    let warnings: [String]

    deinit { _ = state.withLock { close($0.fd) } }

    /// Appends one check; compacts when the file has grown to twice the capacity.
    func append(_ entry: SampleHistory.Entry, keeping history: () -> [SampleHistory.Entry]) {
        let line = Self.json(entry).serialized + "\n"
        state.withLock { s in
            FileSystem.writeAll(s.fd, line)
            s.lines += 1
            guard s.lines >= 2 * capacity, let fd = try? Self.rewrite(path, Array(history().suffix(capacity))) else { return }
            close(s.fd)
            s = (fd, min(capacity, s.lines))
        }
    }

    /// Writes `entries` to a new file and returns it opened for appending.
    private static func rewrite(_ path: String, _ entries: [SampleHistory.Entry]) throws -> Int32 {
        try FileSystem.replaceJournal(path, with: entries.map { json($0).serialized + "\n" }.joined())
    }

    static func json(_ e: SampleHistory.Entry) -> JSONValue {
        func n(_ v: Double?) -> JSONValue { v.map { .number($0) } ?? .null }
        return .object([
            "t": .number(e.timestamp), "rss": n(e.rssMB), "vms": n(e.vmsMB), "anon": n(e.anonymousMB), "pct": n(e.percent),
            "avail": n(e.availableMB), "swap": n(e.swapPercent), "used": n(e.usedBytes), "limit": n(e.limitBytes), "dur": n(e.checkSeconds),
            "pid": n(e.pid.map { Double($0) }), "start": n(e.startTicks.map { Double($0) }),
        ])
    }

    static func entry(_ value: JSONValue) -> SampleHistory.Entry? {
        guard case .object(let o) = value, case .number(let t) = o["t"] else { return nil }
        func n(_ key: String) -> Double? { if case .number(let v) = o[key] { return v } else { return nil } }
        return SampleHistory.Entry(
            timestamp: t, rssMB: n("rss"), vmsMB: n("vms"), percent: n("pct"), availableMB: n("avail"), swapPercent: n("swap"),
            checkSeconds: n("dur"), anonymousMB: n("anon"), usedBytes: n("used"), limitBytes: n("limit"), pid: n("pid").map { Int32($0) },
            startTicks: n("start").map { UInt64($0) })
    }
}
