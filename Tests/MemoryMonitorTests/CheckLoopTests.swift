import Foundation
import Logging
import Synchronization
import TestSupport
import Testing
@testable import MemoryMonitor

/// The check loop's own thread: what wakes it, and that it checks on the interval and stops.
@Suite("Check loop", .serialized, .offCooperativePool)
struct CheckLoopTests {
    @Test func missedTicksAreSkippedNotQueued() {
        let start = ContinuousClock.now
        let interval = Duration.seconds(1)
        #expect(CheckLoop.nextDeadline(after: start, interval: interval, now: start + .milliseconds(200)) == start + .seconds(1))
        #expect(CheckLoop.nextDeadline(after: start, interval: interval, now: start + .milliseconds(3500)) == start + .seconds(4))
    }

    /// The wait ends at its deadline, never before (poll(2) takes milliseconds: rounded up).
    @Test func waitEndsAtTheDeadline() throws {
        let waker = try #require(LoopWaker())
        let clock = ContinuousClock()
        for microseconds in [0, 300, 2_500, 20_000] {
            let deadline = clock.now + .microseconds(microseconds)
            #expect(waker.wait(until: deadline, trigger: nil) == .due)
            #expect(clock.now >= deadline)
        }
    }

    /// A wake-up from another thread ends the wait early; a stop ends this and every later wait.
    @Test func wakeAndStop() throws {
        let waker = try #require(LoopWaker())
        let far = ContinuousClock.now + .seconds(60)
        waker.wake()
        waker.wake()
        #expect(waker.wait(until: far, trigger: nil) == .woken)
        // Both wake-ups were drained by one wait: the next one waits for its deadline.
        #expect(waker.wait(until: .now + .milliseconds(5), trigger: nil) == .due)
        let thread = Thread { usleep(20_000); waker.stop() }
        thread.start()
        #expect(waker.wait(until: far, trigger: nil) == .stopped)
        #expect(waker.wait(until: far, trigger: nil) == .stopped)
        #expect(waker.isStopped)
    }

    /// A trigger descriptor that reports anything but POLLPRI ends the wait instead of spinning:
    /// here a pipe whose write end is closed (POLLHUP), then a closed descriptor (POLLNVAL).
    @Test func triggerErrorEndsTheWait() throws {
        let waker = try #require(LoopWaker())
        var ends: [Int32] = [-1, -1]
        #expect(pipe(&ends) == 0)
        close(ends[1])
        #expect(waker.wait(until: .now + .seconds(60), trigger: ends[0]) == .triggerGone)
        close(ends[0])
        #expect(waker.wait(until: .now + .seconds(60), trigger: ends[0]) == .triggerGone)
    }

    /// A check loop on a thread of its own, as `CheckLoop.run()` starts it, without a service group.
    final class RunningLoop: Sendable {
        let monitor: MemoryMonitor
        let waker: LoopWaker
        private let done = Mutex(false)
        /// The loop thread's id (Linux tid), once it runs.
        let threadID = Mutex<Int32?>(nil)

        init(interval: Double) throws {
            var configuration = MonitorConfiguration()
            configuration.monitoring.checkInterval = interval
            configuration.monitoring.pressureTrigger = nil
            monitor = MemoryMonitor(configuration: configuration)
            waker = try #require(LoopWaker())
            monitor.acceptCheckRequests { [waker] in waker.wake() }
            Thread { [self] in
                // /proc/thread-self links to "<pid>/task/<tid>".
                let tid = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/thread-self"))?.split(separator: "/").last
                threadID.withLock { $0 = tid.flatMap { Int32($0) } }
                CheckLoop.loop(monitor: monitor, logger: Logger(label: "test"), waker: waker)
                done.withLock { $0 = true }
            }.start()
        }

        /// Waits (at most 2 s) for the first check.
        func started() async throws {
            for _ in 0..<200 where monitor.snapshot == nil { try await Task.sleep(for: .milliseconds(10)) }
        }

        /// Stops the loop; true once its thread has returned (within 5 s).
        func stop() async throws -> Bool {
            waker.stop()
            monitor.stopAcceptingCheckRequests()
            for _ in 0..<500 where !done.withLock({ $0 }) { try await Task.sleep(for: .milliseconds(10)) }
            return done.withLock { $0 }
        }
    }

    /// A reader asking for a fresh snapshot gets it from a check on the loop's thread while the
    /// loop runs (the interval here is a minute), and from a check of its own once it stopped.
    @Test func readersAskTheLoopForChecks() async throws {
        let loop = try RunningLoop(interval: 60)
        let monitor = loop.monitor
        try await loop.started()
        #expect(monitor.snapshot?.generation == 1)
        // Several readers at once: each gets a snapshot newer than the one it found too old.
        let generations = await withTaskGroup(of: UInt64.self) { group in
            for _ in 0..<4 { group.addTask { await monitor.snapshot(maxAge: .zero).generation } }
            return await group.reduce(into: []) { $0.append($1) }
        }
        #expect(generations.allSatisfy { $0 >= 2 }, "\(generations)")
        #expect(monitor.history(lastSeconds: 60).count <= 5)
        #expect(try await loop.stop())
        let before = monitor.snapshot?.generation ?? 0
        #expect(await monitor.snapshot(maxAge: .zero).generation == before + 1)
    }

    /// Checks readers ask for run on the loop's thread, not on the readers' (cooperative-pool)
    /// threads: over 100 of them, the loop's thread uses most of the process's CPU time. Were the
    /// checks run by the readers, the loop's thread would only wake and hand over snapshots.
    @Test func readerChecksRunOnTheLoopsThread() async throws {
        let loop = try RunningLoop(interval: 3600)
        try await loop.started()
        let tid = try #require(loop.threadID.withLock { $0 })
        func loopThreadNanoseconds() -> UInt64? {
            (try? String(contentsOfFile: "/proc/self/task/\(tid)/schedstat", encoding: .utf8))?.split(separator: " ").first.flatMap { UInt64($0) }
        }
        func processNanoseconds() -> UInt64 {
            var ts = timespec()
            clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts)
            return UInt64(ts.tv_sec) * 1_000_000_000 + UInt64(ts.tv_nsec)
        }
        let (loopBefore, processBefore) = (try #require(loopThreadNanoseconds()), processNanoseconds())
        let before = loop.monitor.snapshot?.generation ?? 0
        for _ in 0..<100 { _ = await loop.monitor.snapshot(maxAge: .zero) }
        let (loopAfter, processAfter) = (try #require(loopThreadNanoseconds()), processNanoseconds())
        #expect((loop.monitor.snapshot?.generation ?? 0) >= before + 100)
        let share = Double(loopAfter - loopBefore) / Double(processAfter - processBefore)
        print("NOTE readerChecksRunOnTheLoopsThread: the loop's thread used \(Int(share * 100)) % of the process's CPU over 100 reader checks")
        #expect(share > 0.5, "the loop's thread used \(share) of the CPU")
        #expect(try await loop.stop())
    }

    /// A reload that shortens the interval takes effect at once, not after the old interval.
    @Test func shorterIntervalAppliesAtOnce() async throws {
        let loop = try RunningLoop(interval: 3600)
        try await loop.started()
        var faster = loop.monitor.configuration
        faster.monitoring.checkInterval = 0.05
        #expect(loop.monitor.reload(faster).applied.contains("monitoring.check_interval"))
        for _ in 0..<500 where loop.monitor.history(lastSeconds: 3600).count < 5 { try await Task.sleep(for: .milliseconds(10)) }
        #expect(loop.monitor.history(lastSeconds: 3600).count >= 5)
        #expect(try await loop.stop())
    }

    /// The loop checks on the interval on its own thread, and returns once stopped.
    @Test func loopChecksAndStops() async throws {
        let loop = try RunningLoop(interval: 0.05)
        for _ in 0..<1000 where loop.monitor.history(lastSeconds: 60).count < 5 { try await Task.sleep(for: .milliseconds(10)) }
        #expect(loop.monitor.history(lastSeconds: 60).count >= 5)
        #expect(try await loop.stop())
        #expect(loop.monitor.pressureStatus == .off)
    }
}

/// The PSI trigger follows the target's cgroup v2 directory: armed on its `memory.pressure`,
/// re-armed on another cgroup's when the target's changes (the old one closed), and back on the
/// host's file when the target is no longer in a v2 memory cgroup. The kernel files are real: two
/// child cgroups of this host's unified hierarchy, which has PSI but no memory controller (a v2
/// memory cgroup exists here only as fixtures), so the snapshots say v2 for them by hand.
@Suite("Pressure trigger follows the target's cgroup", .serialized, .offCooperativePool)
struct PressureWatchTests {
    func snapshot(_ directory: String?) -> MonitorSnapshot {
        let sample = Sample.fixture(
            targetDescription: "own process", status: nil, host: MemInfo(totalBytes: 1 << 30, availableBytes: 1 << 29),
            cgroup: directory == nil ? CgroupMemory(version: .v1) : CgroupMemory(version: .v2), cgroupDirectory: directory)
        return MonitorSnapshot(
            generation: 1, sample: sample, levels: [:], activeAlerts: [], checkedAt: .now, checkSeconds: 0, cleanupCycles: 0, growth: nil,
            totals: CheckTotals(startedAt: 0))
    }

    @Test func reArmsOnTheNewCgroupsFile() throws {
        let unified = "/sys/fs/cgroup/unified"
        let a = "\(unified)/mm-test-psi-a-\(getpid())"
        let b = "\(unified)/mm-test-psi-b-\(getpid())"
        for directory in [a, b] {
            try #require(
                mkdir(directory, 0o755) == 0 || errno == EEXIST,
                "cannot create \(directory) (errno \(errno)): this test needs root and the unified cgroup mount")
        }
        defer {
            rmdir(a)
            rmdir(b)
        }
        try #require(FileManager.default.fileExists(atPath: a + "/memory.pressure"), "no PSI in the unified hierarchy")
        var configuration = MonitorConfiguration()
        configuration.monitoring.pressureTrigger = "some 150000 2000000"
        let monitor = MemoryMonitor(configuration: configuration)
        var watch = PressureWatch(monitor: monitor, logger: Logger(label: "test"))

        watch.follow(snapshot(a))
        let first = try #require(watch.trigger, "\(monitor.pressureStatus)")
        #expect(first.path == a + "/memory.pressure")
        #expect(monitor.pressureStatus == .armed(path: a + "/memory.pressure"))
        let firstDescriptor = first.fd
        // The same cgroup again: the armed trigger stays, nothing is re-opened.
        watch.follow(snapshot(a))
        #expect(watch.trigger === first)

        // The target moved: the new cgroup's file is armed and the old trigger is closed.
        watch.follow(snapshot(b))
        #expect(watch.trigger?.path == b + "/memory.pressure")
        #expect(monitor.pressureStatus == .armed(path: b + "/memory.pressure"))
        #expect(watch.trigger?.fd != firstDescriptor)
        _ = consume first
        #expect(fcntl(firstDescriptor, F_GETFD) == -1 && errno == EBADF, "the trigger on \(a) is still open")

        // No v2 memory cgroup any more (here: v1): the host's file.
        watch.follow(snapshot(nil))
        #expect(watch.trigger?.path == "/proc/pressure/memory")
        #expect(monitor.pressureStatus == .armed(path: "/proc/pressure/memory"))
    }
}
