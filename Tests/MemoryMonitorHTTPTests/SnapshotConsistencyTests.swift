import Foundation
import MemoryMonitor
import MemoryMonitorHTTP
import NIOCore
import Synchronization
import Testing
import TestSupport

/// A `/metrics` body comes from one check: rendered from that check's snapshot, never from a
/// registry the next check is writing.
@Suite("One body, one check", .offCooperativePool)
struct SnapshotConsistencyTests {
    /// The value of the first sample line starting with `prefix` (name and labels, then a space).
    static func value(_ body: String, _ prefix: String) -> Double? {
        for line in body.split(separator: "\n") where line.hasPrefix(prefix + " ") {
            return Double(line.dropFirst(prefix.count + 1))
        }
        return nil
    }

    /// Checks run back to back on a thread of their own while two tasks scrape through the cache.
    /// In every body, `memory_checks_total` is the generation the body was cached under, the
    /// duration histogram counted exactly that many checks, and the last-check time is that
    /// check's. Bounded: 2000 checks or 20 s.
    @Test func everyBodyComesFromOneCheck() async throws {
        var configuration = MonitorConfiguration()
        configuration.monitoring.checkInterval = 3600
        let monitor = MemoryMonitor(configuration: configuration)
        monitor.check()
        let cache = ExpositionCache(monitor: monitor, maxAge: .seconds(3600))
        let shared = Shared()
        let checker = Thread { [shared] in
                let deadline = Date().addingTimeInterval(20)
            for _ in 0..<2000 where Date() < deadline {
                monitor.check()
                shared.checksRun.add(1, ordering: .relaxed)
            }
            shared.done.store(true, ordering: .releasing)
        }
        checker.start()

        await withTaskGroup(of: Void.self) { group in
            for format in [ExpositionFormat.prometheusText, .openMetrics] {
                group.addTask {
                    while !shared.done.load(ordering: .acquiring) {
                        guard let body = cache.freshBody(format: format, acceptsGzip: false) else { continue }
                        let text = String(decoding: body.bytes.readableBytesView, as: UTF8.self)
                        let checks = Self.value(text, "memory_checks_total")
                        let counted = Self.value(text, "memory_check_duration_seconds_count")
                        let last = Self.value(text, "memory_last_check_timestamp_seconds")
                        shared.tally.withLock { t in
                            t.bodies += 1
                            t.generations.insert(body.generation)
                            if checks != Double(body.generation) || counted != checks || last == nil {
                                t.mismatches.append("generation \(body.generation): checks \(checks ?? -1), counted \(counted ?? -1), last \(last ?? -1)")
                            }
                        }
                        await Task.yield()
                    }
                }
            }
        }
        while !shared.done.load(ordering: .acquiring) { try await Task.sleep(for: .milliseconds(10)) }
        let t = shared.tally.withLock { $0 }
        #expect(t.mismatches.isEmpty, "\(t.mismatches.count) of \(t.bodies) bodies mixed checks: \(t.mismatches.prefix(5))")
        // The scrapes really interleaved with the checks: many generations were served.
        #expect(t.generations.count > 50, "\(t.generations.count) generations in \(t.bodies) bodies over \(shared.checksRun.load(ordering: .relaxed)) checks")
    }

    struct Tally: Sendable {
        var bodies = 0
        var generations: Set<UInt64> = []
        var mismatches: [String] = []
    }

    final class Shared: Sendable {
        let done = Atomic<Bool>(false)
        let checksRun = Atomic<Int>(0)
        let tally = Mutex(Tally())
    }

    /// The same for the families a snapshot gives: the totals travel with it, so the counters and
    /// the gauges of one snapshot are of one check.
    @Test func theFamiliesOfASnapshotAreItsOwn() {
        let monitor = MemoryMonitor(configuration: MonitorConfiguration())
        let first = monitor.check()
        monitor.check()
        let text = String(decoding: ExpositionRenderer.render(monitor.metricFamilies(for: first), format: .prometheusText), as: UTF8.self)
        #expect(Self.value(text, "memory_checks_total") == 1)
        #expect(Self.value(text, "memory_last_check_timestamp_seconds") == first.sample.timestamp)
        #expect(Self.value(text, "memory_process_resident_bytes") == first.sample.process?.status.residentBytes.map { Double($0) })
    }
}
