import TestSupport
import Testing
@testable import MemoryMonitor

@Suite("Monitor", .offCooperativePool)
struct MonitorTests {
    func sample(rssMB: Double, percentUsed: Double, swapPercent: Double = 0) -> Sample {
        let total: UInt64 = 10_000 << 20
        let host = MemInfo(
            totalBytes: total, availableBytes: UInt64(Double(total) * (1 - percentUsed / 100)),
            swapTotalBytes: 1000 << 20, swapFreeBytes: UInt64(1000 * (1 - swapPercent / 100)) << 20)
        let status = ProcessStatus(name: "x", residentBytes: UInt64(rssMB * 1_048_576), virtualBytes: 1 << 30)
        return Sample.fixture(targetDescription: "test", status: status, host: host)
    }

    @Test(arguments: [
        (100.0, 10.0, 0.0, Severity.healthy, Severity.healthy, Severity.healthy),
        (1024, 70, 50, .warning, .warning, .warning),
        (2047.9, 84.9, 74, .warning, .warning, .warning),
        (2048, 85, 75, .critical, .critical, .critical),
        (5000, 99, 95, .emergency, .emergency, .emergency),
    ])
    func levelsFollowThresholds(_ rss: Double, _ percent: Double, _ swap: Double, _ p: Severity, _ s: Severity, _ w: Severity) {
        let levels = ThresholdPolicy(.init()).levels(sample(rssMB: rss, percentUsed: percent, swapPercent: swap))
        #expect(levels[.processMemory] == p)
        #expect(levels[.systemMemory] == s)
        #expect(levels[.swapMemory] == w)
    }

    @Test func goneTargetIsHealthyNotCrashing() {
        var s = sample(rssMB: 9999, percentUsed: 10)
        s.process = nil
        #expect(ThresholdPolicy(.init()).levels(s)[.processMemory] == .healthy)
    }

    @Test func historyKeepsTheNewestInOrder() {
        var history = SampleHistory(capacity: 3)
        for i in 0..<5 { history.append(.init(timestamp: Double(i), rssMB: nil, vmsMB: nil, percent: 0, availableMB: 0, swapPercent: 0, checkSeconds: nil)) }
        #expect(history.count == 3)
        #expect(history.entries(since: 0).map(\.timestamp) == [2, 3, 4])
        #expect(history.entries(since: 3.5).map(\.timestamp) == [4])
        #expect(history.entries(since: 0, newest: 2).map(\.timestamp) == [3, 4])
        #expect(history.entries(since: 0, newest: 0).isEmpty)
        // Every fill level and wrap position, against the plain definition.
        for capacity in 1...5 {
            var ring = SampleHistory(capacity: capacity)
            var all: [Double] = []
            for i in 0..<13 {
                // A wall clock that steps back now and then: not monotonic.
                let t = Double(i % 4 == 3 ? i - 5 : i)
                ring.append(.init(timestamp: t, rssMB: nil, vmsMB: nil, percent: 0, availableMB: 0, swapPercent: 0, checkSeconds: nil))
                all.append(t)
                let kept = Array(all.suffix(capacity))
                for since in [-10.0, 2, 6] {
                    let matching = kept.filter { $0 >= since }
                    #expect(ring.entries(since: since).map(\.timestamp) == matching)
                    for newest in [1, 2, 7] { #expect(ring.entries(since: since, newest: newest).map(\.timestamp) == Array(matching.suffix(newest))) }
                }
            }
        }
    }

    /// SIGHUP after changing `logging.format` or `monitoring.pss_budget_seconds` said "nothing
    /// changed" (issue 25): both keys were in neither list. They take effect at a restart, and
    /// the reload now says so.
    @Test func reloadNamesTheFormatAndThePssBudget() {
        let monitor = MemoryMonitor(configuration: MonitorConfiguration())
        var changed = monitor.configuration
        changed.logging.format = "json"
        changed.monitoring.pssBudgetSeconds = 0.5
        let report = monitor.reload(changed)
        #expect(report.needsRestart.contains("logging.format"))
        #expect(report.needsRestart.contains("monitoring.pss_budget_seconds"))
        #expect(report.applied.isEmpty)
        #expect(monitor.configuration.logging.format == "text", "a restart-only key keeps its old value")
    }

    @Test func checkPublishesOneSnapshot() throws {
        var config = MonitorConfiguration()
        config.monitoring.checkInterval = 60
        let monitor = MemoryMonitor(configuration: config)
        #expect(monitor.snapshot == nil)
        let s = monitor.check()
        #expect(s.sample.process?.pid != nil)
        #expect(s.generation == 1)
        #expect(monitor.snapshot?.generation == 1)
        #expect(s.totals.duration.count == 1 && s.totals.checks == 1)
        #expect(monitor.history(lastSeconds: 60).count == 1)
        // Byte gauges carry the value itself (not, say, its bit pattern read as a Double).
        let text = String(decoding: ExpositionRenderer.render(monitor.metricFamilies(for: s), format: .prometheusText), as: UTF8.self)
        let total = text.split(separator: "\n").first { $0.hasPrefix("memory_host_bytes{field=\"total\"}") }
        let value = total.flatMap { Double($0.split(separator: " ").last ?? "") } ?? 0
        #expect(value == Double(s.sample.host?.totalBytes ?? 0))
        #expect(value > 1_000_000)
    }

    @Test func staleReadersShareOneCheck() async {
        let monitor = MemoryMonitor(configuration: MonitorConfiguration())
        let first = await monitor.snapshot(maxAge: .seconds(60))
        let second = await monitor.snapshot(maxAge: .seconds(60))
        #expect(first.generation == second.generation)
        // Concurrent stale readers: one check between them, never one each.
        async let a = monitor.snapshot(maxAge: .zero)
        async let b = monitor.snapshot(maxAge: .zero)
        let (x, y) = await (a, b)
        #expect(x.generation > first.generation)
        #expect(max(x.generation, y.generation) <= first.generation + 2)
        #expect(monitor.snapshot?.totals.checks == max(x.generation, y.generation))
    }

    /// The manual clean-up runs the warning level's in-process clean-up: malloc_trim, and the
    /// normal-priority cache clearers when warning_actions.clear_caches is set.
    @Test func manualCleanUpRunsTheWarningLevelInProcess() async {
        var configuration = MonitorConfiguration()
        configuration.autoResponse.warning.clearCaches = true
        let monitor = MemoryMonitor(configuration: configuration)
        let normal = Counter()
        let important = Counter()
        monitor.addCacheClearer { normal.bump() }
        monitor.autoResponse.addCacheClearer(priority: .important) { important.bump() }
        let records = await monitor.cleanUp() ?? []
        #expect(records.map(\.action) == [.forceGC, .clearCaches])
        #expect(records.allSatisfy { $0.result == .ok && $0.trigger == .manual })
        #expect(records.allSatisfy { $0.residentBytesBefore != nil && $0.heapBytesAfter != nil })
        #expect(normal.value == 1)
        #expect(important.value == 0)
        #expect(monitor.check().cleanupCycles == 2)
        #expect(monitor.metrics.cleanupOperations.value() == 2)
        #expect(monitor.metrics.autoResponseActions.value("manual", "force_gc", "ok") == 1)
    }
}

import Synchronization

final class Counter: Sendable {
    private let storage = Mutex(0)
    func bump() { storage.withLock { $0 += 1 } }
    var value: Int { storage.withLock { $0 } }
}
