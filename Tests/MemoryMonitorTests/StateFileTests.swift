import Foundation
import Synchronization
import TestSupport
import Testing
@testable import MemoryMonitor

/// The journal on a full disk (a 64 KiB tmpfs): nothing it held is destroyed, failures are
/// reported, and what could not be written is written once there is space again.
@Suite("State directory on a full disk", .serialized, .offCooperativePool)
struct FullDiskTests {
    func alert(_ id: String) -> Alert {
        Alert(
            id: id, timestamp: WallClock.now(), severity: .critical, component: .processMemory, status: .firing, memoryUsage: 60, threshold: 50,
            message: "CRITICAL: Memory usage 60.0MB exceeds critical threshold", instance: "h", targetDescription: "own process", targetPid: 42,
            targetName: "app", percent: 1, availableMB: 2)
    }

    @Test func aFullDiskKeepsTheJournalAndTheAlertsAreWrittenWhenSpaceReturns() throws {
        let disk = try SmallDisk()
        let directory = disk.path + "/state"
        do {
            let store = try AlertStateStore(directory: directory, retentionSeconds: 86_400)
            for i in 0..<9 { store.recordQueued(alert("before\(i)"), channel: "webhook") }
        }
        let before = try #require(ProcFile.read(directory + "/alerts.journal"))
        disk.fill()
        // A start on a full disk: the compaction cannot be written, the journal stays as it was.
        let store = try AlertStateStore(directory: directory, retentionSeconds: 86_400)
        #expect(store.recovered.pending.count == 9)
        #expect(store.warnings.contains { $0.contains("No space left on device") && $0.contains("kept as it was") }, "\(store.warnings)")
        #expect(ProcFile.read(directory + "/alerts.journal") == before)
        #expect(try FileManagerLite.entries(directory) == ["alerts.journal"], "no temporary file is left behind")
        let failures = Mutex<[String]>([])
        store.writeErrors.listen { event in
            if case .failed(let file, _) = event { failures.withLock { $0.append(file) } }
        }
        #expect(failures.withLock { $0 } == ["alerts.journal"], "the failure at start is reported to a later listener")
        // Alerts keep coming while the disk is full: the reserve takes some, then writes fail.
        var sent = 0
        while failures.withLock({ $0.count }) < 3 && sent < 500 {
            store.recordQueued(alert("during\(sent)"), channel: "webhook")
            sent += 1
        }
        #expect(failures.withLock { $0.count } >= 3, "the disk never filled: \(sent) alerts written")
        print("full disk: \(sent) alerts recorded while full, the first \(sent - 2) of them in the reserve past the journal's end")
        #expect(store.isBehind)
        // What the file holds now is whole lines only, and every alert written before is still in it.
        let whileFull = AlertStateStore.replay(ProcFile.read(directory + "/alerts.journal") ?? "")
        #expect(whileFull.skipped.isEmpty)
        #expect(whileFull.recovered.pending.prefix(9).map(\.alert.id) == (0..<9).map { "before\($0)" })
        disk.free()
        store.retryIfBehind()
        #expect(!store.isBehind)
        let after = try AlertStateStore(directory: directory, retentionSeconds: 86_400)
        #expect(after.recovered.pending.map(\.alert.id) == (0..<9).map { "before\($0)" } + (0..<sent).map { "during\($0)" })
    }

    /// A link planted at a state file's name is never followed: the file it points to is untouched.
    @Test func plantedLinksAreNotFollowed() throws {
        let base = "/tmp/mm-links-\(AlertEvaluator.newID())"
        let directory = base + "/state"
        FileSystem.makeDirectories(directory)
        let outside = base + "/outside"
        FileSystem.writeAll(open(outside, O_WRONLY | O_CREAT, 0o600), "precious\n")
        for name in ["alerts.journal", "alerts.journal.tmp", "alerts.journal.tmp-\(getpid())-0", "history.jsonl"] {
            symlink(outside, directory + "/" + name)
        }
        let store = try AlertStateStore(directory: directory, retentionSeconds: 86_400)
        store.recordQueued(alert("x"), channel: "webhook")
        #expect(store.warnings.first?.contains("symbolic link") == true, "\(store.warnings)")
        #expect(ProcFile.read(outside) == "precious\n")
        #expect(AlertStateStore.replay(ProcFile.read(directory + "/alerts.journal") ?? "").recovered.pending.count == 1)
        var info = stat()
        #expect(lstat(directory + "/alerts.journal", &info) == 0 && (info.st_mode & S_IFMT) == S_IFREG)
    }
}

/// A hostile process name (any bytes but NUL fit in comm) reaches each channel escaped for it.
@Suite("Hostile names in alert channels", .offCooperativePool)
struct ChannelEscapingTests {
    func alert(name: String) -> Alert {
        Alert(
            id: "x1", timestamp: 1_796_000_000, severity: .critical, component: .processMemory, status: .firing, memoryUsage: 60, threshold: 50,
            message: "CRITICAL: Memory usage 60.0MB exceeds critical threshold", instance: "h<!here>", targetDescription: "pid 42", targetPid: 42,
            targetName: name, percent: nil, availableMB: nil)
    }

    @Test func slackGetsNoControlSequence() {
        let body = AlertBodies.slack(alert(name: "<!channel>&<x|")).serialized
        #expect(!body.contains("<!channel>"))
        #expect(!body.contains("<!here>"))
        #expect(body.contains("&lt;!channel&gt;&amp;&lt;x|"))
        #expect(body.contains("h&lt;!here&gt;"))
    }

    @Test(arguments: ["a\r.\rb", "a\n.\nb", "a\r\n.\r\nb", "a\r\r\n.b"])
    func smtpNeverSendsABareLineEndOrALoneDot(_ name: String) {
        let message = EmailChannel.message(alert(name: name), from: "mm@example.com", to: ["o@example.com"])
        let data = SMTPClient.dotStuffed(message)
        let bytes = Array(data.utf8)
        for (i, b) in bytes.enumerated() {
            if b == 13 { #expect(i + 1 < bytes.count && bytes[i + 1] == 10, "a bare CR at \(i)") }
            if b == 10 { #expect(i > 0 && bytes[i - 1] == 13, "a bare LF at \(i)") }
        }
        #expect(!data.contains("\r\n.\r\n"), "a line holding only a dot would end DATA")
        #expect(!data.hasPrefix(".\r\n"))
        // The subject header stays one line.
        let subject = message.split(separator: "\r\n").first { $0.hasPrefix("Subject:") } ?? ""
        #expect(!subject.contains("\r") && !subject.contains("\n"))
    }
}
