import Foundation
import Testing

/// A task executor whose jobs each run on a thread of their own: code that blocks (sockets,
/// child processes, polling sleeps) runs there instead of on Swift's cooperative pool, which has
/// one thread per core and which the code under test (the server's scrape tasks) needs.
public final class BlockingExecutor: TaskExecutor {
    public static let shared = BlockingExecutor()

    public func enqueue(_ job: consuming ExecutorJob) {
        let job = UnownedJob(job)
        let executor = asUnownedTaskExecutor()
        let thread = Thread { job.runSynchronously(on: executor) }
        thread.stackSize = 8 << 20
        thread.start()
    }
}

/// Runs each test of a suite with `BlockingExecutor` preferred, so its blocking helpers never
/// hold a cooperative thread; task-locals (the test's identity for `#expect`) carry over.
public struct OffCooperativePool: SuiteTrait, TestTrait, TestScoping {
    public var isRecursive: Bool { true }

    public func provideScope(
        for test: Test, testCase: Test.Case?, performing function: @Sendable () async throws -> Void
    ) async throws {
        try await withTaskExecutorPreference(BlockingExecutor.shared) { try await function() }
    }
}

extension Trait where Self == OffCooperativePool {
    /// Blocking test code runs on threads of its own, not the cooperative pool.
    public static var offCooperativePool: Self { OffCooperativePool() }
}
