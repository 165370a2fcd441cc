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

        init(interval: Double) throws {
            var configuration = MonitorConfiguration()
            configuration.monitoring.checkInterval = interval
            configuration.monitoring.pressureTrigger = nil
            monitor = MemoryMonitor(configuration: configuration)
            waker = try #require(LoopWaker())
            monitor.acceptCheckRequests { [waker] in waker.wake() }
            Thread { [self] in
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
        #expect(loop.monitor.snapshot?.pressureTrigger == .off)
    }
}
