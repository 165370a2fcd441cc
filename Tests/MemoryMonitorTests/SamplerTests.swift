import Foundation
import TestSupport
import Testing
@testable import MemoryMonitor

/// The sampler against real processes: a child that allocates and touches a known amount.
@Suite("Sampler on real processes", .serialized, .offCooperativePool)
struct SamplerTests {
    /// Starts python3 that fills `megabytes` MiB with non-zero bytes (so every page is touched),
    /// says "ready" and sleeps until killed.
    func startAllocator(megabytes: Int) throws -> (Process, Pipe) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = [
            "python3", "-c",
            "import sys,time\nb = bytearray(b'\\x01') * (\(megabytes) * 1048576)\nprint('ready', flush=True)\ntime.sleep(60)",
        ]
        let pipe = Pipe()
        process.standardOutput = pipe
        try process.run()
        let line = pipe.fileHandleForReading.availableData
        #expect(String(decoding: line, as: UTF8.self).hasPrefix("ready"))
        return (process, pipe)
    }

    @Test func residentSizeOfAChildMatchesWhatItTouched() throws {
        let (child, _) = try startAllocator(megabytes: 256)
        defer {
            kill(child.processIdentifier, SIGKILL)
            child.waitUntilExit()
        }
        let sampler = Sampler(target: .pid(child.processIdentifier))
        let sample = sampler.sample()
        let process = try #require(sample.process)
        let rssMB = Double(process.status.residentBytes ?? 0) / 1_048_576
        // 256 MiB touched plus the interpreter (about 10 MiB): allow 256 ... 256 + 40.
        #expect(rssMB >= 256 && rssMB <= 296, "RSS \(rssMB) MiB")
        #expect(process.status.name == "python3")
        #expect(process.proportionalBytes != nil)
        #expect((process.openFileDescriptors ?? 0) >= 3)
    }

    @Test func aTargetThatExitsIsReportedNotFatal() throws {
        let (child, _) = try startAllocator(megabytes: 1)
        let pid = child.processIdentifier
        let sampler = Sampler(target: .pid(pid))
        #expect(sampler.sample().process?.pid == pid)
        kill(pid, SIGKILL)
        child.waitUntilExit()
        #expect(sampler.sample().process == nil)
    }

    @Test func processNameAndPidfileAreReResolved() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("mm-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let pidfile = directory.appendingPathComponent("app.pid").path
        let sampler = Sampler(target: .pidfile(pidfile))
        #expect(sampler.sample().process == nil)  // no file yet

        for _ in 0..<2 {
            let (child, _) = try startAllocator(megabytes: 1)
            try "\(child.processIdentifier)\n".write(toFile: pidfile, atomically: true, encoding: .utf8)
            #expect(sampler.sample().process?.pid == child.processIdentifier)
            kill(child.processIdentifier, SIGKILL)
            child.waitUntilExit()
        }
        #expect(sampler.sample().process == nil)  // file names a dead process
    }

    @Test func ownProcessSampleIsComplete() throws {
        let sample = Sampler().sample()
        let process = try #require(sample.process)
        #expect(process.pid == getpid())
        #expect((process.status.residentBytes ?? 0) > 1 << 20)
        #expect((sample.host?.totalBytes ?? 0) > 0)
        #expect((sample.limit?.limitBytes ?? 0) > 0)
        #expect(sample.allocator != nil)
        #expect(sample.exporter.maxFileDescriptors > 0)
        #expect(sample.exporter.startTimeSeconds > 1_600_000_000)
    }
}

@Suite("Sampler target resolution", .serialized, .offCooperativePool)
struct SamplerResolutionTests {
    @Test func processNameFindsARunningProcess() throws {
        let child = Process()
        child.executableURL = URL(fileURLWithPath: "/bin/sleep")
        child.arguments = ["30"]
        try child.run()
        defer {
            kill(child.processIdentifier, SIGKILL)  // the test runner's children may not see SIGTERM
            child.waitUntilExit()
        }
        // The child is named "sleep" once it has exec'd, which may be after run() returns.
        #expect(waitFor(10) { (try? String(contentsOfFile: "/proc/\(child.processIdentifier)/comm", encoding: .utf8)) == "sleep\n" })
        let sample = Sampler(target: .processName("sleep")).sample()
        let process = try #require(sample.process)
        #expect(process.status.name == "sleep")
        #expect(process.pid <= child.processIdentifier)  // the lowest pid named "sleep" wins
        #expect(Sampler(target: .processName("no-such-process-name")).sample().process == nil)
    }

    /// Spawns `argv` and waits (bounded, 5 s) until it has exited and sits unreaped; the caller reaps it.
    static func zombie(_ argv: [String]) throws -> pid_t {
        var pid: pid_t = 0
        let cArgs: [UnsafeMutablePointer<CChar>?] = argv.map { strdup($0) } + [nil]
        defer { for p in cArgs { free(p) } }
        try #require(posix_spawn(&pid, argv[0], nil, nil, cArgs, environ) == 0)
        for _ in 0..<500 {
            if let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8), ProcessStat.parse(stat)?.hasExited == true { break }
            usleep(10_000)
        }
        return pid
    }

    /// A zombie of the same name with a lower pid is passed over: the name's target is the live
    /// process. Before, the lowest pid named so was taken and, being a zombie, made the target
    /// "gone" (a critical `target` alert) while the live one ran; other tests' `sleep` children
    /// made `processNameFindsARunningProcess` fail now and then that way.
    @Test func aZombieOfTheSameNameIsPassedOver() throws {
        let zombie = try Self.zombie(["/bin/sleep", "0"])
        defer { var status: Int32 = 0; waitpid(zombie, &status, 0) }
        #expect((try? String(contentsOfFile: "/proc/\(zombie)/comm", encoding: .utf8)) == "sleep\n")
        let child = Process()
        child.executableURL = URL(fileURLWithPath: "/bin/sleep")
        child.arguments = ["30"]
        try child.run()
        defer {
            kill(child.processIdentifier, SIGKILL)
            child.waitUntilExit()
        }
        try #require(zombie < child.processIdentifier, "pids wrapped between the two spawns")
        #expect(waitFor(10) { (try? String(contentsOfFile: "/proc/\(child.processIdentifier)/comm", encoding: .utf8)) == "sleep\n" })
        let sample = Sampler(target: .processName("sleep")).sample()
        let process = try #require(sample.process, "\(sample.targetState)")
        #expect(process.pid != zombie)
        #expect(process.status.name == "sleep")
    }

    /// A child that exited but was not reaped is a zombie: gone, not a target with no memory.
    @Test func aZombieIsGone() throws {
        let pid = try Self.zombie(["/bin/true"])
        defer { var status: Int32 = 0; waitpid(pid, &status, 0) }
        let sample = Sampler(target: .pid(pid)).sample()
        #expect(sample.process == nil)
        guard case .gone = sample.targetState else { Issue.record("a zombie must be gone, got \(sample.targetState)"); return }
    }
}
