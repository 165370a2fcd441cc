import Foundation
import TestSupport
import Testing
@testable import MemoryMonitor

/// Who in a group receives what, and the identity checks every signal passes (issue 24).
@Suite("Signals reach only the target", .serialized, .offCooperativePool)
struct TargetSignalTests {
    typealias Member = Sample.TargetProcess.Member

    /// 10 timeout → 11 worker; 20 master → 21, 22 workers; 20 → 30 sh (not a member) → 31 worker;
    /// 40 alone. Roots have no member above them; leaves no member below.
    @Test func rootsAndLeavesOfAGroup() {
        let parents: [Int32: Int32] = [10: 1, 11: 10, 20: 1, 21: 20, 22: 20, 30: 20, 31: 30, 40: 5, 5: 1]
        var asked: [Int32] = []
        let shape = ProcessTree.shape(members: [10, 11, 20, 21, 22, 31, 40], knownParents: [10: 1, 11: 10, 20: 1, 21: 20, 22: 20, 31: 30, 40: 5]) {
            asked.append($0)
            return parents[$0]
        }
        #expect(shape.roots == [10, 20, 40])
        #expect(shape.leaves == [11, 21, 22, 31, 40])
        // Only processes outside the group are read, each once.
        #expect(asked.sorted() == [5, 30])
    }

    @Test func aSingleProcessIsRootAndLeafAndALoopEnds() {
        #expect(ProcessTree.shape(members: [7], knownParents: [:]) { _ in Issue.record("nothing to read"); return nil } == ([7], [7]))
        // A pid reused mid-walk can make a cycle: the walk ends and the member stays a root.
        let shape = ProcessTree.shape(members: [1000, 1001], knownParents: [1000: 2000, 1001: 3000]) { $0 == 2000 ? 2001 : ($0 == 2001 ? 2000 : nil) }
        #expect(shape.roots == [1000, 1001])
        #expect(ProcessTree.ancestors(of: 50) { $0 == 50 ? 51 : ($0 == 51 ? 50 : nil) } == [51])
    }

    @Test func theMonitorsAncestorsAreKnown() {
        let ancestors = ProcessTree.ownAncestors()
        #expect(ancestors.contains(getppid()))
        #expect(!ancestors.contains(getpid()))
    }

    @Test func recipientsAreLeavesForASignalAndRootsForARestart() {
        let members = [Member(pid: 10, startTicks: 1, isRoot: true, isLeaf: false), Member(pid: 11, startTicks: 2, isRoot: false, isLeaf: true)]
        #expect(SignalRunner.recipients(members).map(\.pid) == [11])
        #expect(RestartRunner.recipients(members).map(\.pid) == [10])
    }

    static func startTicks(_ pid: Int32) -> UInt64? {
        ProcFile.read("/proc/\(pid)/stat").flatMap(ProcessStat.parse)?.startTicks
    }

    /// A member whose start time is not the process's own is refused before any signal: the pid
    /// belongs to another process. With the right start time it is signalled through its pidfd.
    @Test func aWrongStartTimeIsRefusedAndTheRightOneSignalled() throws {
        #expect(TargetSignal.hasPidfd, "this kernel has pidfd_open (5.3 or later)")
        let events = NSTemporaryDirectory() + "mm-signal-\(UUID().uuidString)"
        let python = TestEnvironment.python
        let target = try ChildProcess(python, [TestEnvironment.packageRoot + "/Tests/Peers/signal_recorder.py", events, "t", "--handle", "SIGUSR1"])
        defer { target.stop() }
        #expect(target.wait(seconds: 20) { target.stdout.contains("ready") })
        let start = try #require(Self.startTicks(target.pid))
        let usr1 = try #require(NamedSignal.named("SIGUSR1", in: NamedSignal.cleanupSignals))
        let wrong = TargetSignal.send(usr1, to: [Member(pid: target.pid, startTicks: start + 1)], requireHandler: true)
        #expect(wrong.0 == .skipped)
        #expect(wrong.1 == "pid \(target.pid) now belongs to another process (its start time changed), not signalled")
        let unknown = TargetSignal.send(usr1, to: [Member(pid: target.pid, startTicks: nil)], requireHandler: true)
        #expect(unknown.0 == .skipped)
        Thread.sleep(forTimeInterval: 0.3)
        #expect(((try? String(contentsOfFile: events, encoding: .utf8)) ?? "").isEmpty)
        let right = TargetSignal.send(usr1, to: [Member(pid: target.pid, startTicks: start)], requireHandler: true)
        #expect(right.0 == .ok)
        #expect(right.1 == "SIGUSR1 sent to pid \(target.pid)")
        #expect(waitFor(5) { ((try? String(contentsOfFile: events, encoding: .utf8)) ?? "") == "SIGUSR1 \(target.pid)\n" })
        // Gone: refused, not failed.
        target.stop()
        let gone = TargetSignal.send(usr1, to: [Member(pid: target.pid, startTicks: start)], requireHandler: true)
        #expect(gone.0 == .skipped)
        #expect(gone.1 == "pid \(target.pid) has exited, not signalled")
    }

    /// Without pidfds (kernels before 5.3) the start time is read right before kill: a wrong one
    /// is refused, the right one signalled.
    @Test func withoutPidfdsTheStartTimeIsCheckedBeforeKill() throws {
        let events = NSTemporaryDirectory() + "mm-signal-\(UUID().uuidString)"
        let target = try ChildProcess(TestEnvironment.python, [TestEnvironment.packageRoot + "/Tests/Peers/signal_recorder.py", events, "t", "--handle", "SIGUSR2"])
        defer { target.stop() }
        #expect(target.wait(seconds: 20) { target.stdout.contains("ready") })
        let start = try #require(Self.startTicks(target.pid))
        let usr2 = try #require(NamedSignal.named("USR2", in: NamedSignal.cleanupSignals))
        let wrong = TargetSignal.deliver(usr2, to: [Member(pid: target.pid, startTicks: start &+ 7)], requireHandler: true, allowOwnProcess: false, usePidfd: false)
        #expect(wrong.sent.isEmpty)
        #expect(wrong.refused.map(\.reason) == ["now belongs to another process (its start time changed)"])
        let right = TargetSignal.deliver(usr2, to: [Member(pid: target.pid, startTicks: start)], requireHandler: true, allowOwnProcess: false, usePidfd: false)
        #expect(right.sent == [target.pid])
        #expect(waitFor(5) { ((try? String(contentsOfFile: events, encoding: .utf8)) ?? "") == "SIGUSR2 \(target.pid)\n" })
    }

    /// The monitor itself (unless it is its own target) and its ancestors never receive a signal.
    @Test func theMonitorAndItsAncestorsAreNeverSignalled() throws {
        let term = NamedSignal.term
        let own = TargetSignal.send(term, to: [Member(pid: getpid(), startTicks: Self.startTicks(getpid()))], requireHandler: false)
        #expect(own.0 == .skipped)
        #expect(own.1.contains("is the monitor itself"))
        let parent = getppid()
        let up = TargetSignal.send(term, to: [Member(pid: parent, startTicks: Self.startTicks(parent))], requireHandler: false)
        #expect(up.0 == .skipped)
        #expect(up.1.contains("is an ancestor of the monitor"))
    }

    /// cooldown 0 still plans one round per level per check interval.
    @Test func oneRoundPerLevelPerInterval() {
        var c = MonitorConfiguration.AutoResponse()
        c.cooldownSeconds = 0
        var planner = ResponsePlanner(configuration: c, inProcess: true)
        #expect(!planner.plan(level: .warning, now: 0, minimumRoundSeconds: 5).isEmpty)
        #expect(planner.plan(level: .warning, now: 4.9, minimumRoundSeconds: 5).isEmpty)
        #expect(!planner.plan(level: .critical, now: 4.9, minimumRoundSeconds: 5).isEmpty)
        #expect(!planner.plan(level: .warning, now: 5, minimumRoundSeconds: 5).isEmpty)
    }
}
