import Foundation
import TestSupport
import Testing
@testable import MemoryMonitor
@testable import MemoryMonitorHTTP

/// 10 000 seeded mutations of real journal and history files, each loaded as the monitor loads
/// them at start and then read through the health API's reports (the history a request asks for,
/// the alert summary). Nothing may trap, and nothing may be written outside the state directory,
/// even through links planted at the state files' names.
@Suite("State files that were tampered with", .serialized, .offCooperativePool)
struct StateFuzzTests {
    /// A real journal and history: written by the stores themselves.
    static func seeds(in directory: String) throws -> (journal: String, history: String) {
        FileSystem.makeDirectories(directory)
        do {
            let store = try AlertStateStore(directory: directory, retentionSeconds: 86_400)
            for (i, severity) in [Severity.warning, .critical, .emergency].enumerated() {
                let alert = Alert(
                    id: "seed\(i)", timestamp: WallClock.now() - Double(100 - i), severity: severity, component: .processMemory, status: .firing,
                    memoryUsage: 512.5 + Double(i), threshold: 512, message: "\(severity): Memory usage exceeds threshold", instance: "host:9091",
                    targetDescription: "pid 4242", targetPid: 4242, targetName: "crawler", percent: 45.2, availableMB: 2048.5)
                store.recordSent(alert)
                store.recordQueued(alert, channel: "webhook")
                if i == 0 { store.recordDone(id: alert.id, channel: "webhook") }
            }
            let history = try HistoryStore(directory: directory, capacity: 50)
            let now = WallClock.now()
            for k in 0..<12 {
                let entry = SampleHistory.Entry(
                    timestamp: now - Double(60 - k * 5), rssMB: 100 + Double(k), vmsMB: 400, percent: 12.5, availableMB: 2000, swapPercent: 0,
                    checkSeconds: 0.0004, anonymousMB: 80 + Double(k), usedBytes: 1_073_741_824, limitBytes: 4_294_967_296, pid: 4242, startTicks: 123_456)
                history.append(entry) { [] }
            }
        }
        return (ProcFile.read(directory + "/alerts.journal") ?? "", ProcFile.read(directory + "/history.jsonl") ?? "")
    }

    @Test func tenThousandMutationsLoadWithoutACrashOrAWriteOutside() throws {
        let base = "/tmp/mm-state-fuzz-\(AlertEvaluator.newID())"
        let state = base + "/state"
        let seeds = try Self.seeds(in: base + "/seed")
        #expect(seeds.journal.split(separator: "\n").count == 7)
        #expect(seeds.history.split(separator: "\n").count == 12)
        try FileManager.default.removeItem(atPath: base + "/seed")
        let outside = base + "/outside"
        FileSystem.writeAll(open(outside, O_WRONLY | O_CREAT, 0o600), "precious\n")
        var rng = SeededGenerator(state: 24)
        var loaded = (alerts: 0, pending: 0, entries: 0, skippedFiles: 0)
        let iterations = 10_000
        for iteration in 0..<iterations {
            try? FileManager.default.removeItem(atPath: state)
            FileSystem.makeDirectories(state)
            let journal = StateFileMutator.mutate(seeds.journal, using: &rng)
            let history = StateFileMutator.mutate(seeds.history, using: &rng)
            // One start in 20 finds links planted at the state files' names and temporary names.
            if iteration % 20 == 0 {
                let names = ["alerts.journal", "history.jsonl", "alerts.journal.tmp", "alerts.journal.tmp-\(getpid())-0", "history.jsonl.tmp-\(getpid())-0"]
                let name = names[iteration / 20 % names.count]
                symlink("../outside", state + "/" + name)
            }
            for (name, text) in [("alerts.journal", journal), ("history.jsonl", history)] {
                let fd = open(state + "/" + name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW, 0o600)
                if fd >= 0 {
                    FileSystem.writeAll(fd, text)
                    close(fd)
                }
            }
            let store = try AlertStateStore(directory: state, retentionSeconds: 86_400 * 365)
            let historyStore = try HistoryStore(directory: state, capacity: 50)
            loaded.alerts += store.recovered.history.count
            loaded.pending += store.recovered.pending.count
            loaded.entries += historyStore.recovered.count
            if !store.warnings.isEmpty || !historyStore.warnings.isEmpty { loaded.skippedFiles += 1 }
            // What a request then reads of it: the history (every 25th start, through a monitor) and each alert.
            for alert in store.recovered.history + store.recovered.pending.map(\.alert) {
                _ = alert.payload.serialized
                _ = WallClock.rfc3339(alert.timestamp)
            }
            if iteration % 25 == 0 {
                var configuration = MonitorConfiguration()
                configuration.monitoring.checkInterval = 60
                configuration.alerting.stateDirectory = state
                let monitor = MemoryMonitor(configuration: configuration, stateStore: store)
                _ = HealthReport.history(monitor, hours: 24 * 365, step: nil).serialized
                _ = HealthReport.history(monitor, hours: 1, step: 60).serialized
                _ = HealthReport.alerts(monitor.alerts.summary(hours: 24 * 365)).serialized
            }
            #expect(ProcFile.read(outside) == "precious\n", "iteration \(iteration) wrote through a link")
            let entries = try FileManagerLite.entries(base).sorted()
            #expect(entries == ["outside", "state"], "iteration \(iteration) wrote outside the state directory: \(entries)")
        }
        // The mutations leave much to read: the loader keeps what is good, not nothing.
        #expect(loaded.alerts > iterations)
        #expect(loaded.entries > iterations * 5)
        #expect(loaded.skippedFiles > iterations / 2)
        print("state fuzz: \(iterations) starts, \(loaded.alerts) alerts, \(loaded.pending) pending, \(loaded.entries) history entries loaded; \(loaded.skippedFiles) starts skipped lines")
        try? FileManager.default.removeItem(atPath: base)
    }
}

/// Directory listing without Foundation's file manager quirks.
enum FileManagerLite {
    static func entries(_ directory: String) throws -> [String] { try FileManager.default.contentsOfDirectory(atPath: directory) }
}
