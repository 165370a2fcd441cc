import Foundation
import TestSupport
import Testing
@testable import MemoryMonitor

/// History in the state directory: it survives a restart, and a leak window in progress is taken
/// up again for the same process only.
@Suite("History across restarts", .serialized, .offCooperativePool)
struct HistoryStoreTests {
    static let mib = 1_048_576.0

    func leakingEntries(pid: Int32, start: UInt64) -> [SampleHistory.Entry] {
        (0...30).map { i in
            let t = WallClock.now() - 300 + Double(i) * 10
            let rss = 100 * (1 + 0.2 * Double(i) / 30)
            return SampleHistory.Entry(
                timestamp: t, rssMB: rss, vmsMB: nil, percent: 10, availableMB: 1000, swapPercent: 0, checkSeconds: 0.001, anonymousMB: rss,
                pid: pid, startTicks: start)
        }
    }

    func sample(pid: Int32, start: UInt64, rssMB: Double) -> Sample {
        Sample.fixture(timestamp: WallClock.now(), pid: pid, startTicks: start, residentBytes: UInt64(rssMB * Self.mib))
    }

    /// Like the alert journal: a history file that cannot be read is moved aside, not overwritten,
    /// and bad lines are counted in a warning.
    @Test func anUnreadableHistoryIsMovedAsideAndBadLinesAreNamed() throws {
        let directory = NSTemporaryDirectory() + "mm-history-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: directory + "/history.jsonl", withIntermediateDirectories: true)
        let store = try HistoryStore(directory: directory, capacity: 20)
        #expect(store.recovered.isEmpty)
        #expect(store.warnings.first?.contains("moved aside to \(directory)/history.jsonl.unread-") == true, "\(store.warnings)")
        #expect(try FileManager.default.contentsOfDirectory(atPath: directory).contains { $0.hasPrefix("history.jsonl.unread-") })
        store.append(leakingEntries(pid: 7, start: 100)[0]) { [] }
        try (try String(contentsOfFile: directory + "/history.jsonl", encoding: .utf8) + "not json\n").write(
            toFile: directory + "/history.jsonl", atomically: true, encoding: .utf8)
        let reopened = try HistoryStore(directory: directory, capacity: 20)
        #expect(reopened.recovered.count == 1)
        #expect(reopened.warnings.first == "\(directory)/history.jsonl: line(s) 2 are not history entries (a key missing or a number out of range); skipped")
        #expect(reopened.warnings.last?.hasPrefix("\(directory)/history.jsonl: the file as it was, with the lines skipped, is kept at \(directory)/history.jsonl.corrupt-") == true)
    }

    @Test func roundTripAndCompaction() throws {
        let directory = NSTemporaryDirectory() + "mm-history-\(UUID().uuidString)"
        let entries = leakingEntries(pid: 7, start: 100)
        do {
            let store = try HistoryStore(directory: directory, capacity: 20)
            #expect(store.recovered.isEmpty)
            for e in entries { store.append(e) { Array(entries.prefix(while: { $0.timestamp <= e.timestamp }).suffix(20)) } }
        }
        let reopened = try HistoryStore(directory: directory, capacity: 20)
        #expect(reopened.recovered.count == 20)
        #expect(reopened.recovered.last == entries.last)
        let lines = try String(contentsOfFile: directory + "/history.jsonl", encoding: .utf8).split(separator: "\n")
        #expect(lines.count == 20)
    }

    /// After a restart (or a reload that changes the growth settings) the levels before the last
    /// window are earlier peaks again: a rise back to where the process was an hour ago is not
    /// a leak; without those levels it is.
    @Test func theLevelsBeforeTheWindowAreTakenUpAsEarlierPeaks() {
        let now = WallClock.now()
        // An hour ago at 200 MiB, down to 100 MiB, then a rise of 20 % in the last window.
        let entries: [SampleHistory.Entry] = stride(from: 3600.0, through: 10, by: -10).map { ago in
            let rss = ago > 2400 ? 200 : ago > 300 ? 100 : 100 * (1 + 0.2 * (300 - ago) / 300)
            return SampleHistory.Entry(
                timestamp: now - ago, rssMB: rss, vmsMB: nil, percent: 10, availableMB: 1000, swapPercent: 0, checkSeconds: 0.001, anonymousMB: rss,
                pid: 7, startTicks: 100)
        }
        func leakStarted(_ entries: [SampleHistory.Entry]) -> Bool {
            var tracker = GrowthTracker(configuration: MonitorConfiguration())
            tracker.restore(entries)
            return tracker.observe(sample(pid: 7, start: 100, rssMB: 120), level: .healthy).1.contains { if case .leakStarted = $0 { true } else { false } }
        }
        let withEarlierLevels = leakStarted(entries)
        let withTheWindowOnly = leakStarted(entries.filter { $0.timestamp >= now - 300 })
        #expect(!withEarlierLevels)
        #expect(withTheWindowOnly)
    }

    @Test func aLeakWindowIsTakenUpForTheSameProcessOnly() {
        var same = GrowthTracker(configuration: MonitorConfiguration())
        same.restore(leakingEntries(pid: 7, start: 100))
        let (analysis, events) = same.observe(sample(pid: 7, start: 100, rssMB: 120.5), level: .healthy)
        #expect(events.contains { if case .leakStarted = $0 { true } else { false } })
        #expect(analysis.leaking)

        var other = GrowthTracker(configuration: MonitorConfiguration())
        other.restore(leakingEntries(pid: 7, start: 100))
        let (_, otherEvents) = other.observe(sample(pid: 7, start: 999, rssMB: 120.5), level: .healthy)
        #expect(!otherEvents.contains { if case .leakStarted = $0 { true } else { false } })
    }
}
