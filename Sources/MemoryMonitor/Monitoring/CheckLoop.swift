#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import Logging
import NIOPosix
import ServiceLifecycle
import Synchronization

/// Runs `MemoryMonitor.check()` every `monitoring.check_interval` seconds until graceful shutdown,
/// and at once when the PSI trigger (`monitoring.pressure_trigger`) fires, at most one such check
/// a second. Ticks never pile up: a check that runs past the next tick skips it.
///
/// The loop has a thread of its own that sleeps in poll(2) on the trigger and a wake-up pipe
/// until the next tick: one wake-up per check, and a check (which reads files, and for a large
/// group may take many milliseconds) never occupies a thread of the cooperative pool. Checks a
/// reader asks for (`MemoryMonitor.snapshot(maxAge:)`, a scrape finding the snapshot too old) run
/// on this thread too while the loop runs.
///
/// The work a check starts and does not wait for (auto-response actions, a runtime agent's gate,
/// a leak episode's profile) runs in this service's task group; graceful shutdown stops it and
/// waits for it, then restores the gate of any runtime agent the monitor throttled.
public struct CheckLoop: Service {
    let monitor: MemoryMonitor
    let logger: Logger

    public init(monitor: MemoryMonitor, logger: Logger) {
        self.monitor = monitor
        self.logger = logger
    }

    /// Why the loop could not start.
    struct StartFailure: Error, CustomStringConvertible {
        var description: String
    }

    public func run() async throws {
        guard let waker = LoopWaker() else {
            let reason = "the check loop needs two descriptors for its wake-up pipe: \(ReadFailure(code: errno))"
            logger.critical("\(reason)")
            throw StartFailure(description: reason)
        }
        logger.info(
            "check loop started",
            metadata: [
                "interval_seconds": "\(monitor.configuration.monitoring.checkInterval)",
                "target": "\(monitor.configuration.monitoring.target)",
            ])
        let pool = NIOThreadPool(numberOfThreads: 1)
        pool.start()
        monitor.acceptCheckRequests { waker.wake() }
        let (monitor, logger) = (monitor, logger)
        // The work checks start (actions, agent gate changes, leak profiles) runs in this
        // service's task group: at shutdown it is cancelled and awaited before `run()` returns.
        let tasks = monitor.actionTasks
        let jobs = tasks.open()
        await withDiscardingTaskGroup { group in
            group.addTask { await tasks.run(jobs) }
            await withTaskCancellationHandler {
                await withGracefulShutdownHandler {
                    _ = try? await pool.runIfActive { Self.loop(monitor: monitor, logger: logger, waker: waker) }
                } onGracefulShutdown: {
                    waker.stop()
                }
            } onCancel: {
                waker.stop()
            }
            monitor.stopAcceptingCheckRequests()
            let running = tasks.runningCount
            if running > 0 { logger.notice("stopping the actions still running", metadata: ["count": "\(running)"]) }
            tasks.close()
        }
        try? await pool.shutdownGracefully()
        // A runtime agent this monitor throttled gets its own limit back.
        await monitor.autoResponse.releaseAgentGates()
        logger.info("check loop stopped")
    }

    /// The loop, on its own thread, until `waker` is stopped.
    static func loop(monitor: MemoryMonitor, logger: Logger, waker: LoopWaker) {
        let clock = ContinuousClock()
        var watch = PressureWatch(monitor: monitor, logger: logger)
        var deadline = clock.now
        // The last check the trigger ran, and one held back by the one-a-second limit.
        var lastPressureCheck: ContinuousClock.Instant?
        var pressureCheckDue: ContinuousClock.Instant?
        // A check, which also answers the readers that asked for one before it began.
        func check() {
            let waiting = monitor.takeCheckRequests()
            let snapshot = monitor.check()
            for reader in waiting { reader.resume(returning: snapshot) }
            watch.follow(snapshot)
            monitor.observeCheckCPU(wallSeconds: clock.now.secondsSinceReference, threadSeconds: threadCPUSeconds)
        }
        while !waker.isStopped {
            check()
            // Read each time: a reload or the overhead limit may change it.
            let interval = Duration.seconds(monitor.effectiveCheckInterval)
            let tick = deadline
            deadline = nextDeadline(after: tick, interval: interval, now: clock.now)
            pressureCheckDue = nil
            // The target's runtime agents are asked for their report a little before the tick,
            // so their answer (a thread to wake on each side: about half a millisecond here) is
            // waiting when the check reads it, instead of the check waiting for it.
            var agentsAsked = !monitor.hasRuntimeAgents
            waiting: while true {
                let askAt = deadline - Self.agentLead
                let until = min(agentsAsked || askAt <= clock.now ? deadline : askAt, pressureCheckDue ?? deadline)
                switch waker.wait(until: until, trigger: watch.trigger?.fd) {
                case .stopped:
                    return
                case .due:
                    if clock.now >= deadline { break waiting }
                    if !agentsAsked && clock.now >= askAt && (pressureCheckDue.map { clock.now < $0 } ?? true) {
                        agentsAsked = true
                        monitor.askRuntimeAgents()
                        continue waiting
                    }
                    // A held-back pressure check is due before the tick.
                    pressureCheckDue = nil
                    lastPressureCheck = clock.now
                    check()
                case .fired:
                    monitor.metrics.pressureTriggers.increment()
                    let now = clock.now
                    if let last = lastPressureCheck, now - last < .seconds(1) {
                        pressureCheckDue = last + .seconds(1)
                        continue waiting
                    }
                    lastPressureCheck = now
                    logger.debug("memory pressure trigger fired: checking now", metadata: ["path": "\(watch.trigger?.path ?? "")"])
                    check()
                case .triggerGone:
                    watch.lost()
                case .woken:
                    // A reader (a scrape finding the snapshot too old) asked for a check, a check
                    // found the target in another cgroup, or a reload changed the interval.
                    if monitor.hasCheckRequests {
                        check()
                    } else if let snapshot = monitor.snapshot {
                        watch.follow(snapshot)
                    }
                    // A reload may have shortened the interval: the next tick is then one new
                    // interval after the last, if that is sooner.
                    let interval = Duration.seconds(monitor.effectiveCheckInterval)
                    deadline = min(deadline, nextDeadline(after: tick, interval: interval, now: clock.now))
                }
            }
        }
    }

    /// How long before a tick the runtime agents are asked for their report.
    static let agentLead = Duration.milliseconds(10)

    /// CPU time of the calling thread (the loop's), in seconds.
    static func threadCPUSeconds() -> Double {
        var t = timespec()
        clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t)
        return Double(t.tv_sec) + Double(t.tv_nsec) / 1e9
    }

    /// The first tick after `previous` that is still in the future: missed ticks are skipped.
    static func nextDeadline(after previous: ContinuousClock.Instant, interval: Duration, now: ContinuousClock.Instant) -> ContinuousClock.Instant {
        var next = previous + interval
        if next <= now {
            let behind = (now - previous).seconds / interval.seconds
            next = previous + interval * Int(behind.rounded(.down) + 1)
        }
        return next
    }
}

/// What the check loop's thread sleeps on: a pipe that other threads write to wake it (a stop, a
/// reader's check, a reload, a target that moved to another cgroup), and the PSI trigger, with a
/// deadline.
final class LoopWaker: Sendable {
    enum Outcome: Equatable {
        /// The deadline passed.
        case due
        /// The trigger fired.
        case fired
        /// The trigger's file is gone (its cgroup was removed), or its descriptor reports an error.
        case triggerGone
        /// `wake()` was called.
        case woken
        /// `stop()` was called.
        case stopped
    }

    private let fd: Int32
    private let writer: Int32
    private let stopped = Atomic<Bool>(false)

    /// Nil when no descriptors are left for the pipe (errno says why).
    init?() {
        var ends: [Int32] = [-1, -1]
        guard pipe(&ends) == 0 else { return nil }
        for end in ends {
            _ = fcntl(end, F_SETFD, FD_CLOEXEC)
            _ = fcntl(end, F_SETFL, O_NONBLOCK)
        }
        (fd, writer) = (ends[0], ends[1])
    }

    deinit {
        close(fd)
        close(writer)
    }

    var isStopped: Bool { stopped.load(ordering: .acquiring) }

    /// Wakes the waiting thread; from any thread.
    func wake() {
        // A full pipe (EAGAIN) has a wake-up pending already.
        var one: UInt8 = 1
        _ = write(writer, &one, 1)
    }

    /// Wakes the waiting thread for good: every later `wait` returns `.stopped` at once.
    func stop() {
        stopped.store(true, ordering: .releasing)
        wake()
    }

    /// Blocks until `deadline`, a `wake()`, or the trigger on `trigger` fires.
    func wait(until deadline: ContinuousClock.Instant, trigger: Int32?) -> Outcome {
        let clock = ContinuousClock()
        while true {
            if isStopped { return .stopped }
            let left = deadline - clock.now
            if left <= .zero { return .due }
            // poll(2) takes milliseconds: round up, so the wait never ends before the deadline.
            let (seconds, attoseconds) = left.components
            let milliseconds = Int32(clamping: seconds * 1000 + (attoseconds + 999_999_999_999_999) / 1_000_000_000_000_000)
            var entries = (
                pollfd(fd: fd, events: Int16(POLLIN), revents: 0), pollfd(fd: trigger ?? -1, events: Int16(POLLPRI), revents: 0)
            )
            let ready = withUnsafeMutablePointer(to: &entries) { pair in
                pair.withMemoryRebound(to: pollfd.self, capacity: 2) { poll($0, trigger == nil ? 1 : 2, milliseconds) }
            }
            if ready < 0 {
                // EINTR: look at the clock again. Anything else (ENOMEM) would repeat at once: pause.
                if errno != EINTR {
                    var pause = timespec(tv_sec: 0, tv_nsec: 100_000_000)
                    _ = nanosleep(&pause, nil)
                }
                continue
            }
            if ready == 0 { continue }
            if entries.0.revents != 0 {
                var drained = (UInt64(0), UInt64(0))
                _ = read(fd, &drained, 16)
                return isStopped ? .stopped : .woken
            }
            // A PSI trigger reports POLLPRI when it fires and POLLERR once its cgroup is removed;
            // anything else but POLLPRI alone would only repeat, so it counts as gone too.
            if entries.1.revents == Int16(POLLPRI) { return .fired }
            if entries.1.revents != 0 { return .triggerGone }
        }
    }
}
