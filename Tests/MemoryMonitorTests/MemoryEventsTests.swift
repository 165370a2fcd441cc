import Foundation
import TestSupport
import Testing
@testable import MemoryMonitor

/// cgroup v2 memory events, from fixtures (this machine's memory controller is v1).
@Suite("Kernel memory events", .serialized, .offCooperativePool)
struct MemoryEventsTests {
    @Test func parsesEveryCount() {
        let events = MemoryEvents.parse(fixture("cgroup2-memory.events.txt"))
        #expect(events == MemoryEvents(low: 0, high: 0, max: 31, oom: 2, oomKill: 1))
        #expect(events["oom_kill"] == 1)
    }

    @Test func increaseIsNeverNegative() {
        let before = MemoryEvents(low: 5, high: 3, max: 31, oom: 2, oomKill: 1)
        let after = MemoryEvents(low: 5, high: 7, max: 30, oom: 2, oomKill: nil)
        #expect(after.increase(since: before) == MemoryEvents(low: 0, high: 4, max: 0, oom: 0, oomKill: 0))
    }

    /// A v2 cgroup directory given with `--cgroup`: the sampler reports each event's rise between
    /// checks and the peak, and a counter of another directory never carries over.
    @Test func samplerCountsRisesOfAV2Cgroup() throws {
        let directory = NSTemporaryDirectory() + "mm-cg2-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        func write(_ name: String, _ text: String) throws { try text.write(toFile: directory + "/" + name, atomically: true, encoding: .utf8) }
        try write("memory.current", "104857600\n")
        try write("memory.max", "536870912\n")
        try write("memory.peak", "209715200\n")
        try write("memory.stat", fixture("cgroup2-memory.stat.txt"))
        try write("memory.events", "low 0\nhigh 3\nmax 31\noom 2\noom_kill 1\n")
        let sampler = Sampler(target: .ownProcess, cgroup: directory)
        let first = sampler.sample()
        #expect(first.cgroup?.version == .v2)
        #expect(first.cgroup?.peakBytes == 209_715_200)
        #expect(first.limit?.source == .cgroup)
        #expect(first.newOOMKills == 0)  // the first reading is a baseline, not news
        try write("memory.events", "low 0\nhigh 5\nmax 31\noom 3\noom_kill 2\n")
        let second = sampler.sample()
        #expect(second.newEvents == MemoryEvents(low: 0, high: 2, max: 0, oom: 1, oomKill: 1))
        var totals = CheckTotals(startedAt: 0)
        totals.record(first)
        totals.record(second)
        #expect(totals.events["high"] == 2)
        #expect(totals.oomKills == 1)
        let body = String(decoding: ExpositionRenderer.render(CheckFamilies.families(sample: second, totals: totals), format: .prometheusText), as: UTF8.self)
        #expect(body.contains("memory_cgroup_events_total{event=\"high\"} 2\n"))
        #expect(body.contains("memory_cgroup_oom_kills_total 1\n"))
    }
}
