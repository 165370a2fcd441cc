import Testing
@testable import MemoryMonitor
import TestSupport

/// `performance.monitoring_overhead_limit_percent` as a pure function of the CPU and wall clocks.
@Suite("Overhead limit", .offCooperativePool)
struct OverheadGovernorTests {
    /// Checks that take 10 % of a core against a 5 % limit: the interval doubles once per window
    /// (ten intervals) up to 64 times; then at 1 % (under half the limit) it comes back at once.
    @Test func aboveTheLimitTheIntervalDoublesAndBelowHalfItComesBack() {
        var g = OverheadGovernor()
        var cpu = 0.0, wall = 0.0
        #expect(g.observe(cpuSeconds: cpu, wallSeconds: wall, limitPercent: 5, configured: 1) == nil)  // opens the first window
        var seen: [Double] = []
        for _ in 0..<2000 {
            let interval = g.interval(configured: 1)
            wall += interval
            cpu += interval * 0.10
            if let change = g.observe(cpuSeconds: cpu, wallSeconds: wall, limitPercent: 5, configured: 1) { seen.append(change.to) }
        }
        #expect(seen == [2, 4, 8, 16, 32, 64])
        #expect(g.status(limitPercent: 5, configured: 1).stretched)
        #expect(g.status(limitPercent: 5, configured: 1).cpuPercent.map { abs($0 - 10) < 0.01 } == true)
        // 3 %: under the limit, not under half of it: stays.
        for _ in 0..<20 {
            wall += 64
            cpu += 64 * 0.03
            #expect(g.observe(cpuSeconds: cpu, wallSeconds: wall, limitPercent: 5, configured: 1) == nil)
        }
        // 1 %: back to the configured interval at the end of the window.
        var restored: (from: Double, to: Double)?
        for _ in 0..<20 where restored == nil {
            wall += 64
            cpu += 64 * 0.01
            restored = g.observe(cpuSeconds: cpu, wallSeconds: wall, limitPercent: 5, configured: 1)
        }
        #expect(restored?.from == 64 && restored?.to == 1)
        #expect(!g.status(limitPercent: 5, configured: 1).stretched)
    }

    /// A window is ten effective intervals but at least a second; a day is the longest interval.
    @Test func windowsAndBounds() {
        var g = OverheadGovernor()
        #expect(g.isDue(wallSeconds: 0, configured: 0.01), "the first call opens a window")
        _ = g.observe(cpuSeconds: 0, wallSeconds: 0, limitPercent: 1, configured: 0.01)
        #expect(!g.isDue(wallSeconds: 0.5, configured: 0.01))
        #expect(g.isDue(wallSeconds: 1, configured: 0.01))
        #expect(g.observe(cpuSeconds: 0.5, wallSeconds: 0.5, limitPercent: 1, configured: 0.01) == nil, "half a second is not a window")
        #expect(g.observe(cpuSeconds: 1, wallSeconds: 1, limitPercent: 1, configured: 0.01)?.to == 0.02)
        var h = OverheadGovernor()
        _ = h.observe(cpuSeconds: 0, wallSeconds: 0, limitPercent: 1, configured: 60_000)
        let change = h.observe(cpuSeconds: 600_000, wallSeconds: 600_000, limitPercent: 1, configured: 60_000)
        #expect(change?.to == 86_400)
        #expect(h.observe(cpuSeconds: 2_000_000, wallSeconds: 2_000_000, limitPercent: 1, configured: 60_000) == nil, "a day is the most")
    }
}
