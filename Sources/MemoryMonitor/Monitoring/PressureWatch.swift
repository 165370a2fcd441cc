#if canImport(Glibc)
import Glibc
#endif
import Logging
import NIOPosix
import ServiceLifecycle

/// Runs a check as soon as the kernel reports a memory-pressure spike, instead of waiting for
/// the next interval: a PSI trigger on the target cgroup's `memory.pressure` (cgroup v2) or the
/// host's `/proc/pressure/memory`, waited on by a thread of its own blocked in poll(2). Where the
/// kernel or permissions refuse the trigger, checks stay on the interval and `/health/memory` says why.
public struct PressureWatch: Service {
    /// What the watch is doing, for `/health/memory`.
    public enum Status: Sendable, Equatable {
        case off
        case armed(path: String)
        case unavailable(reason: String)
    }

    let monitor: MemoryMonitor
    let logger: Logger

    public init(monitor: MemoryMonitor, logger: Logger) {
        self.monitor = monitor
        self.logger = logger
    }

    public func run() async throws {
        guard let spec = monitor.configuration.monitoring.pressureTrigger else {
            monitor.setPressureStatus(.off)
            try? await gracefulShutdown()
            return
        }
        // The trigger is waited on by a thread of its own, blocked in poll(2): no periodic wake-ups
        // of the cooperative pool, and a spike is seen at once. A pipe wakes it at shutdown.
        let pool = NIOThreadPool(numberOfThreads: 1)
        pool.start()
        var pipeEnds: [Int32] = [-1, -1]
        guard pipe(&pipeEnds) == 0 else {
            monitor.setPressureStatus(.unavailable(reason: "pipe(2) failed: \(ReadFailure(code: errno))"))
            try? await pool.shutdownGracefully()
            try? await gracefulShutdown()
            return
        }
        for end in pipeEnds { _ = fcntl(end, F_SETFD, FD_CLOEXEC) }
        let (wake, wakeWriter) = (pipeEnds[0], pipeEnds[1])
        let signalWake: @Sendable () -> Void = {
            var one: UInt8 = 1
            _ = Glibc.write(wakeWriter, &one, 1)
        }
        await withTaskCancellationHandler {
            await withGracefulShutdownHandler {
                await watch(spec: spec, pool: pool, wake: wake)
            } onGracefulShutdown: {
                signalWake()
            }
        } onCancel: {
            signalWake()
        }
        try? await pool.shutdownGracefully()
        close(wake)
        close(wakeWriter)
    }

    private func watch(spec: String, pool: NIOThreadPool, wake: Int32) async {
        var trigger: PressureTrigger?
        // The last refused path and when: a refusal is retried every 10 s, a new path at once.
        var refused: (path: String, at: ContinuousClock.Instant)?
        var lastCheck = ContinuousClock.now - .seconds(1)
        while !Task.isCancelled && !Task.isShuttingDownGracefully {
            // The target's cgroup is known after the first check; it is looked at again whenever
            // the wait returns (at least every 2 s), so a target that moves is followed.
            let path = monitor.snapshot.map { Self.path(for: $0) }
            if let path, trigger?.path != path, refused.map({ $0.path != path || ContinuousClock.now - $0.at >= .seconds(10) }) ?? true {
                switch PressureTrigger.arm(path: path, spec: spec) {
                case .success(let armed):
                    trigger = armed
                    refused = nil
                    monitor.setPressureStatus(.armed(path: path))
                    logger.info("memory pressure trigger armed", metadata: ["path": "\(path)", "trigger": "\(spec)"])
                case .failure(let failure):
                    trigger = nil
                    refused = (path, .now)
                    let reason = "\(path): the kernel refused the trigger \"\(spec)\": \(failure)"
                    monitor.setPressureStatus(.unavailable(reason: reason))
                    logger.warning("memory pressure trigger unavailable; checks stay on the interval", metadata: ["reason": "\(reason)"])
                }
            }
            guard let armed = trigger else {
                // Nothing armed (no check yet, or the kernel refused): look again in a second.
                do { try await cancelWhenGracefulShutdown { try await Task.sleep(for: .seconds(1)) } } catch { return }
                continue
            }
            let outcome = (try? await pool.runIfActive { armed.wait(milliseconds: 2000, wake: wake) }) ?? .woken
            switch outcome {
            case .fired:
                monitor.metrics.pressureTriggers.increment()
                // At most one extra check a second, however often the kernel signals.
                if ContinuousClock.now - lastCheck >= .seconds(1) {
                    lastCheck = .now
                    logger.debug("memory pressure trigger fired: checking now", metadata: ["path": "\(armed.path)"])
                    _ = await monitor.snapshot(maxAge: .zero)
                } else {
                    // The kernel signals at most once per window; do not spin until the second is up.
                    do { try await cancelWhenGracefulShutdown { try await Task.sleep(for: .milliseconds(250)) } } catch { return }
                }
            case .gone:
                trigger = nil
            case .woken:
                return
            case .quiet:
                break
            }
        }
    }

    /// The target cgroup's `memory.pressure` when cgroup v2 controls its memory, else the host's.
    static func path(for snapshot: MonitorSnapshot) -> String {
        if snapshot.sample.cgroup?.version == .v2, let directory = snapshot.sample.cgroupDirectory {
            return directory + "/memory.pressure"
        }
        return "/proc/pressure/memory"
    }
}
