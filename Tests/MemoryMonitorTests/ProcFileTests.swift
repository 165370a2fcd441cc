import Foundation
import TestSupport
import Testing
@testable import MemoryMonitor

/// The low-level readers every check uses: descriptor counts (by `stat` where the kernel
/// reports them), single-record reads that stop at a short read, and the kept-open files.
@Suite("ProcFile and KeptOpenFiles", .serialized, .offCooperativePool)
struct ProcFileTests {
    @Test func ownDescriptorCountFollowsWhatIsOpened() throws {
        let before = try ProcFile.openDescriptors(ofProcess: nil).get()
        // The listing holds one descriptor of its own, which the count leaves out.
        #expect(try ProcFile.countEntries("/proc/self/fd").get() - 1 == before)
        let opened = (0..<7).map { _ in open("/dev/null", O_RDONLY | O_CLOEXEC) }
        defer { opened.forEach { close($0) } }
        #expect(opened.allSatisfy { $0 >= 0 })
        #expect(try ProcFile.openDescriptors(ofProcess: nil).get() == before + 7)
    }

    @Test func anotherProcessCountEqualsItsListing() throws {
        let child = try ChildProcess("/bin/sleep", ["30"])
        defer { child.stop() }
        let directory = "/proc/\(child.pid)/fd"
        let listed = try ProcFile.countEntries(directory).get()
        #expect(listed >= 3)
        #expect(try ProcFile.openDescriptors(ofProcess: child.pid).get() == listed)
        // A process that is gone is missing, not zero.
        child.stop()
        var failure: ReadFailure?
        if case .failure(let f) = ProcFile.openDescriptors(ofProcess: child.pid) { failure = f }
        #expect(failure?.isMissing == true)
    }

    /// Linux 6.2 and later report the count as the size of /proc/PID/fd; this machine's kernel
    /// (and CI's) does, so the one-call path is the one under test above.
    @Test func statPathIsTakenOnKernelsThatReportCounts() throws {
        var name = utsname()
        uname(&name)
        let release = withUnsafeBytes(of: name.release) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
        let parts = release.split(separator: ".").prefix(2).compactMap { Int($0.prefix { $0.isNumber }) }
        let atLeast62 = parts.count == 2 && (parts[0] > 6 || (parts[0] == 6 && parts[1] >= 2))
        #expect(ProcFile.statReportsDescriptors == atLeast62, "kernel \(release)")
    }

    /// A single-record read stops at a short read, but a read that fills the buffer goes on:
    /// a file larger than the 16 KiB buffer is read whole.
    @Test func singleRecordReadsAreWhole() throws {
        let path = NSTemporaryDirectory() + "procfile-\(getpid()).txt"
        defer { unlink(path) }
        let text = (0..<4000).map { "line \($0) of a file larger than one buffer\n" }.joined()
        try text.write(toFile: path, atomically: false, encoding: .utf8)
        #expect(ProcFile.read(path, singleRecord: true) == text)
        #expect(ProcFile.read(path) == text)
        // The kernel's own single-record files: the same lines as a read to the end.
        for procPath in ["/proc/self/status", "/proc/meminfo", "/proc/self/stat", "/proc/self/cmdline"] {
            let whole = try #require(ProcFile.read(procPath))
            let single = try #require(ProcFile.read(procPath, singleRecord: true))
            #expect(single.split(separator: "\n").count == whole.split(separator: "\n").count, "\(procPath)")
            #expect(single.hasSuffix("\n") == whole.hasSuffix("\n"), "\(procPath)")
        }
    }

    @Test func keptOpenFilesReReadAndCloseWhatASweepDidNotRead() throws {
        let files = KeptOpenFiles()
        let first = try files.read("/proc/self/status").get()
        #expect(first.contains("VmRSS:"))
        _ = try files.read("/proc/meminfo").get()
        #expect(files.openCount == 2)
        files.endSweep()
        // Read again from the kept descriptor: whole, regenerated.
        let again = try files.read("/proc/self/status").get()
        #expect(again.split(separator: "\n").count == first.split(separator: "\n").count)
        files.endSweep()
        // /proc/meminfo was not read in the last sweep: closed.
        #expect(files.openCount == 1)
        // A file outside /proc and /sys is never kept.
        let path = NSTemporaryDirectory() + "kept-\(getpid()).txt"
        defer { unlink(path) }
        try "one\n".write(toFile: path, atomically: false, encoding: .utf8)
        #expect(try files.read(path).get() == "one\n")
        #expect(files.openCount == 1)
    }
}
