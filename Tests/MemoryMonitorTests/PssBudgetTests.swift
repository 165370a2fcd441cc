import TestSupport
import Testing
@testable import MemoryMonitor

/// The Pss time budget: a check reads smaps_rollup until the budget is spent (at least one
/// process), and the rest of a group follows at later checks; until every member is read, Pss is
/// unknown with the reason, never a partial sum.
@Suite("Pss budget", .serialized, .offCooperativePool)
struct PssBudgetTests {
    @Test func aGroupIsReadAcrossChecksWithinTheBudget() throws {
        let marker = "31.\(Int.random(in: 1000...9999))"
        let sleepers = try (0..<4).map { _ in try ChildProcess("/bin/sleep", [marker]) }
        defer { for s in sleepers { s.stop() } }
        // A child just spawned may not have exec'd yet (its command line is still the test's):
        // wait until every sleeper shows its own, as a sample would match it.
        #expect(waitFor(5) { sleepers.allSatisfy { (ProcFile.read("/proc/\($0.pid)/cmdline") ?? "").hasPrefix("/bin/sleep\u{0}\(marker)") } })
        let sampler = Sampler(target: .processMatch("^/bin/sleep \(marker.replacingOccurrences(of: ".", with: "\\."))$"), proportionalBudget: .zero)
        var deferred: [Int] = []
        var known: [Bool] = []
        for _ in 0..<4 {
            let sample = sampler.sample()
            #expect(sample.process?.pids.count == 4)
            deferred.append(sample.pssDeferred)
            known.append(sample.process?.proportionalBytes != nil)
            if sample.process?.proportionalBytes == nil {
                #expect(sample.process?.unavailable["pss_mb"]?.contains("not read yet") == true, "\(sample.process?.unavailable ?? [:])")
            }
        }
        // A zero budget reads one process per check: 3, 2, 1, 0 left over; known once all are read.
        #expect(deferred == [3, 2, 1, 0])
        #expect(known == [false, false, false, true])
        // With a budget, the whole group is read in one check.
        let generous = Sampler(target: .processMatch("^/bin/sleep \(marker.replacingOccurrences(of: ".", with: "\\."))$"), proportionalBudget: .seconds(1))
        let sample = generous.sample()
        #expect(sample.pssDeferred == 0 && sample.process?.proportionalBytes != nil)
    }

    @Test func theMetricCountsDeferredReads() {
        var totals = CheckTotals(startedAt: 0)
        var sample = Sample.fixture(status: nil, host: nil)
        sample.pssDeferred = 7
        totals.record(sample)
        #expect(totals.pssSkipped == 7)
    }
}
