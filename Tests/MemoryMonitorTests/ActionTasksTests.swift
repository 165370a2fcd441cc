import Logging
import ServiceLifecycle
import Synchronization
import TestSupport
import Testing
@testable import MemoryMonitor

/// The work checks start runs in the check loop's task group: graceful shutdown stops it and
/// waits for it; without a loop it runs on tasks of its own that are still reached.
@Suite("Action tasks", .offCooperativePool)
struct ActionTasksTests {
    /// What a job saw: that it started, and that it was cancelled.
    final class Seen: Sendable {
        let started = Atomic<Int>(0)
        let cancelled = Atomic<Int>(0)
        let finished = Atomic<Int>(0)
    }

    /// A job that waits until it is cancelled (a hung hook), or for `seconds`.
    static func hungJob(_ seen: Seen, seconds: Double = 60) -> ActionTasks.Job {
        {
            seen.started.add(1, ordering: .relaxed)
            try? await Task.sleep(for: .seconds(seconds))
            if Task.isCancelled { seen.cancelled.add(1, ordering: .relaxed) }
            seen.finished.add(1, ordering: .relaxed)
        }
    }

    /// Without a loop: each job runs on a task of its own; `waitForAll` waits for it and
    /// `cancelAll` stops a hung one.
    @Test func withoutALoopJobsRunOnTasksOfTheirOwn() async throws {
        let tasks = ActionTasks()
        let seen = Seen()
        #expect(!tasks.isOwned)
        tasks.submit(Self.hungJob(seen, seconds: 0.05))
        await tasks.waitForAll()
        #expect(seen.finished.load(ordering: .relaxed) == 1)
        #expect(seen.cancelled.load(ordering: .relaxed) == 0)
        tasks.submit(Self.hungJob(seen))
        #expect(tasks.runningCount == 1)
        tasks.cancelAll()
        await tasks.waitForAll()
        #expect(seen.finished.load(ordering: .relaxed) == 2)
        #expect(seen.cancelled.load(ordering: .relaxed) == 1)
        #expect(tasks.runningCount == 0)
    }

    /// With a check loop in a service group: a job a check started is a child of the loop's
    /// group; graceful shutdown cancels it, and the group's `run()` returns only after it ended.
    @Test func aCheckLoopOwnsItsJobsAndStopsThemAtShutdown() async throws {
        var c = MonitorConfiguration()
        c.monitoring.checkInterval = 0.1
        let monitor = MemoryMonitor(configuration: c, logger: Logger(label: "test"))
        let seen = Seen()
        let group = ServiceGroup(services: [CheckLoop(monitor: monitor, logger: Logger(label: "test"))], logger: Logger(label: "test"))
        try await withThrowingTaskGroup(of: Void.self) { running in
            running.addTask { try await group.run() }
            #expect(await poll { monitor.actionTasks.isOwned })
            monitor.actionTasks.submit(Self.hungJob(seen))
            #expect(await poll { seen.started.load(ordering: .relaxed) == 1 })
            #expect(monitor.actionTasks.runningCount == 1)
            await group.triggerGracefulShutdown()
            try await running.waitForAll()
        }
        // The service returned: the job had been cancelled and had ended by then.
        #expect(seen.cancelled.load(ordering: .relaxed) == 1)
        #expect(seen.finished.load(ordering: .relaxed) == 1)
        #expect(monitor.actionTasks.runningCount == 0)
        #expect(!monitor.actionTasks.isOwned)
        // After shutdown a job still runs (on a task of its own), and is still reached.
        monitor.actionTasks.submit(Self.hungJob(seen))
        monitor.autoResponse.cancelRunning()
        await monitor.autoResponse.waitForRunning()
        #expect(seen.cancelled.load(ordering: .relaxed) == 2)
    }
}
