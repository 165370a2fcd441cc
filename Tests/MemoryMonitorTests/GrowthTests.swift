#if canImport(Glibc)
import Glibc
#endif
import TestSupport
import Testing
@testable import MemoryMonitor

/// Leak detection and prediction on synthetic series: one point every 10 s, 5-minute window,
/// 10 % threshold (the SPEC's defaults), 100 MiB to start.
@Suite("Leak detection and prediction")
struct GrowthTests {
    static let mib = 1_048_576.0
    static let rule = LeakRule(thresholdGrowthRate: 0.1, window: 300)

    /// The first time (seconds) at which the rule calls the series a leak, feeding it point by point
    /// through a sliding window as the tracker does; nil when it never does.
    static func detection(_ series: (Double) -> Double, seconds: Double = 900, step: Double = 10) -> Double? {
        var points: [(t: Double, v: Double)] = []
        var t = 0.0
        while t <= seconds {
            points.append((t, series(t)))
            points.removeAll { $0.t < t - rule.window }
            if let fit = GrowthFit.fit(points), rule.isLeak(fit) { return t }
            t += step
        }
        return nil
    }

    /// A deterministic noise in -1…1.
    static func noise(_ t: Double) -> Double { sin(t * 12.9898) * 0.7 + sin(t * 78.233) * 0.3 }

    static let base = 100 * mib

    @Test func steadyLeakIsDetectedWithinOneWindow() throws {
        // 15 % per 5 minutes.
        let t = try #require(Self.detection { Self.base * (1 + 0.15 * $0 / 300) })
        print("leak-detection: steady +15%/5 min detected after \(Int(t)) s")
        #expect(t <= 300)
    }

    @Test func steadyLeakWithNoiseIsDetected() throws {
        let t = try #require(Self.detection { Self.base * (1 + 0.2 * $0 / 300) + Self.noise($0) * 0.01 * Self.base })
        print("leak-detection: steady +20%/5 min with ±1% noise detected after \(Int(t)) s")
        #expect(t <= 330)
    }

    @Test(arguments: ["sawtooth", "warm-up step", "noise ±5%", "flat with a spike", "slow growth below threshold", "shrinking"])
    func notALeak(_ kind: String) {
        let series: (Double) -> Double
        switch kind {
        case "sawtooth":
            // Allocates 30 MiB over a minute, frees it, again and again.
            series = { Self.base + 30 * Self.mib * ($0.truncatingRemainder(dividingBy: 60) / 60) }
        case "warm-up step":
            series = { $0 < 200 ? Self.base : Self.base * 1.4 }
        case "noise ±5%":
            series = { Self.base * (1 + 0.05 * Self.noise($0)) }
        case "flat with a spike":
            series = { abs($0 - 400) < 5 ? Self.base * 3 : Self.base }
        case "slow growth below threshold":
            series = { Self.base * (1 + 0.04 * $0 / 300) }
        default:
            series = { Self.base * (1 - 0.2 * $0 / 900) }
        }
        let detected = Self.detection(series)
        print("leak-detection: \(kind): \(detected.map { "false positive at \(Int($0)) s" } ?? "no detection in 900 s")")
        #expect(detected == nil, "\(kind) was called a leak")
    }

    @Test func predictionOfALinearSeriesIsWithinTenPercent() throws {
        // 1 MiB/s from 100 MiB: 1024 MiB (the default warning) is reached at t = 924 s.
        var points: [(t: Double, v: Double)] = []
        for i in 0..<31 { points.append((Double(i) * 10, Self.base + Double(i) * 10 * Self.mib)) }
        let fit = try #require(GrowthFit.fit(points))
        let seconds = try #require(fit.secondsUntil(1024 * Self.mib))
        let truth = 924.0 - 300
        #expect(abs(seconds - truth) / truth < 0.1)
        #expect(abs(fit.slope - Self.mib) / Self.mib < 0.01)
    }

    @Test func trackerRaisesOneLeakEpisodeAndEndsIt() {
        var config = MonitorConfiguration()
        config.experimental.predictiveAlerting = false
        var tracker = GrowthTracker(configuration: config)
        var started = 0
        var ended = 0
        for i in 0...120 {
            let t = Double(i) * 10
            // Leaks for 10 minutes, then flat for 10.
            let rss = t < 600 ? Self.base * (1 + 0.2 * t / 300) : Self.base * 1.4
            let sample = Sample(
                timestamp: t, targetDescription: "t", process: .init(pid: 1, status: ProcessStatus(name: "x", residentBytes: UInt64(rss))),
                host: MemInfo(totalBytes: 1 << 40, availableBytes: 1 << 39), cgroup: nil, hostPressure: nil, allocator: nil, exporter: .init())
            for event in tracker.observe(sample, level: .healthy).1 {
                if case .leakStarted = event { started += 1 }
                if case .leakEnded = event { ended += 1 }
            }
        }
        #expect(started == 1)
        #expect(ended == 1)
    }

    /// Checks every 0.1 s for ten minutes: the tracker keeps about 130 points per window, not
    /// 3000, and still sees the leak and its rate.
    @Test func frequentChecksKeepABoundedNumberOfPoints() throws {
        var config = MonitorConfiguration()
        config.experimental.predictiveAlerting = false
        var tracker = GrowthTracker(configuration: config)
        var started = false
        var rate: Double?
        for i in 0...6000 {
            let t = Double(i) / 10
            let rss = Self.base * (1 + 0.2 * t / 300) + Self.noise(t) * Self.mib
            let sample = Sample(
                timestamp: t, targetDescription: "t", process: .init(pid: 1, status: ProcessStatus(name: "x", residentBytes: UInt64(rss))),
                host: MemInfo(totalBytes: 1 << 40, availableBytes: 1 << 39), cgroup: nil, hostPressure: nil, allocator: nil, exporter: .init())
            let (analysis, events) = tracker.observe(sample, level: .healthy)
            rate = analysis.rateBytesPerSecond
            if events.contains(where: { if case .leakStarted = $0 { true } else { false } }) { started = true }
            #expect(tracker.pointCount <= 132)
        }
        #expect(started)
        let expected = Self.base * 0.2 / 300
        #expect(abs(try #require(rate) - expected) / expected < 0.05)
    }

    @Test func trendAlertSaysWhen() throws {
        var config = MonitorConfiguration()
        config.monitoring.leakDetection.enabled = false
        var tracker = GrowthTracker(configuration: config)
        var message: String?
        for i in 0...30 {
            let t = Double(i) * 10
            // 2 MiB/s towards the 1024 MiB warning.
            let rss = 600 * Self.mib + t * 2 * Self.mib
            let sample = Sample(
                timestamp: t, targetDescription: "t", process: .init(pid: 1, status: ProcessStatus(name: "x", residentBytes: UInt64(rss))),
                host: MemInfo(totalBytes: 1 << 40, availableBytes: 1 << 39), cgroup: nil, hostPressure: nil, allocator: nil, exporter: .init())
            for event in tracker.observe(sample, level: .healthy).1 { if case .trendStarted(let m) = event, message == nil { message = m } }
        }
        let text = try #require(message)
        #expect(text.hasPrefix("WARNING: RSS "))
        #expect(text.contains("growing 120.0 MB/min, crosses warning (1.0 GB) in about"))
    }
}

@Suite("Median by selection")
struct MedianSelectionTests {
    /// A sample that misses the median (every sampled position holds a value far above the
    /// rest): the band gives up and the median comes from the selection over everything.
    @Test func bandMedianFallsBackWhenTheSampleMisses() {
        let n = 1000
        var values = (0..<n).map { Double($0 % 97) }
        for i in 0..<128 { values[(i &* 40503 &+ 12345) % n] = 1e9 }
        let sorted = values.sorted()
        var copy = values
        #expect(copy.withUnsafeMutableBufferPointer { GrowthFit.bandMedian($0) } == nil)
        copy = values
        #expect(GrowthFit.median(&copy) == (sorted[n / 2 - 1] + sorted[n / 2]) / 2)
    }

    /// The selection median equals the sorted one, for odd and even counts, duplicates, sorted,
    /// reversed and constant inputs (seeded, so a failure repeats).
    @Test func selectionMedianEqualsSortedMedian() {
        var generator = SeededGenerator(state: 20261127)
        var inputs: [[Double]] = [[1], [2, 1], [3, 3, 3, 3], Array(0..<2016).map(Double.init), Array((0..<2015).reversed()).map(Double.init)]
        // Large ones too, with many duplicates and a few outliers far from the rest.
        for _ in 0..<60 {
            let n = Int.random(in: 512...5000, using: &generator)
            let distinct = [3, 40, 100_000][Int.random(in: 0..<3, using: &generator)]
            var values = (0..<n).map { _ in Double(Int.random(in: 0..<distinct, using: &generator)) * 0.25 - 7 }
            for _ in 0..<Int.random(in: 0..<20, using: &generator) { values[Int.random(in: 0..<n, using: &generator)] = 1e12 }
            inputs.append(values)
            inputs.append(values.sorted())
        }
        for _ in 0..<300 {
            let n = Int.random(in: 1...300, using: &generator)
            let distinct = Int.random(in: 1...50, using: &generator)
            inputs.append((0..<n).map { _ in Double(Int.random(in: 0..<distinct, using: &generator)) * 0.5 - 3 })
        }
        for input in inputs {
            let sorted = input.sorted()
            let n = sorted.count
            let expected = n % 2 == 1 ? sorted[n / 2] : (sorted[n / 2 - 1] + sorted[n / 2]) / 2
            var copy = input
            #expect(GrowthFit.median(&copy) == expected, "\(input.count) values")
            #expect(copy.sorted() == sorted)
        }
    }
}


@Suite("Theil–Sen fit against a plain reference")
struct GrowthFitReferenceTests {
    /// The estimator written the plain way: every slope in an array, medians by sorting.
    static func reference(_ points: [(t: Double, v: Double)]) -> GrowthFit? {
        func median(_ values: [Double]) -> Double {
            let s = values.sorted()
            return s.count % 2 == 1 ? s[s.count / 2] : (s[s.count / 2 - 1] + s[s.count / 2]) / 2
        }
        // Evenly spaced points, the first and the last always, when there are too many.
        let m = GrowthFit.maximumPoints
        let p = points.count <= m ? points : (0..<m).map { points[Int((Double($0) * Double(points.count - 1) / Double(m - 1)).rounded())] }
        guard p.count >= 3, let first = p.first, let last = p.last, last.t > first.t else { return nil }
        var slopes: [Double] = []
        for i in 0..<p.count {
            for j in (i + 1)..<p.count where p[j].t > p[i].t { slopes.append((p[j].v - p[i].v) / (p[j].t - p[i].t)) }
        }
        guard !slopes.isEmpty else { return nil }
        let slope = median(slopes)
        let intercept = median(p.map { $0.v - slope * $0.t })
        let mean = p.reduce(0) { $0 + $1.v } / Double(p.count)
        var residual = 0.0
        var total = 0.0
        for q in p {
            let r = q.v - (intercept + slope * q.t)
            residual += r * r
            total += (q.v - mean) * (q.v - mean)
        }
        let span = last.t - first.t
        let quarters = (0..<4).map { q -> Double in
            let lo = first.t + span * Double(q) / 4
            let hi = first.t + span * Double(q + 1) / 4
            let values = p.filter { $0.t >= lo && (q == 3 ? $0.t <= hi : $0.t < hi) }.map(\.v)
            return values.isEmpty ? .nan : median(values)
        }
        return GrowthFit(
            slope: slope, valueAtEnd: intercept + slope * last.t, valueAtStart: intercept + slope * first.t, start: first.t, end: last.t,
            explained: total == 0 ? 0 : max(0, 1 - residual / total), count: p.count, quarterMedians: quarters)
    }

    /// Seeded series of every shape a tracker sees (growing, flat, noisy, stepped, repeated
    /// times, 3 to 200 points): the fit equals the reference exactly, field by field.
    @Test func fitEqualsTheReference() {
        var generator = SeededGenerator(state: 20261127_2)
        var compared = 0
        for round in 0..<400 {
            let n = Int.random(in: 1...200, using: &generator)
            let slope = Double.random(in: -2000...5000, using: &generator)
            let noise = [0.0, 10, 100_000][round % 3]
            var t = 0.0
            var points: [(t: Double, v: Double)] = []
            for i in 0..<n {
                // Now and then two points share a time (no slope between them).
                if i == 0 || Int.random(in: 0..<10, using: &generator) > 0 { t += Double.random(in: 0.5...5, using: &generator) }
                let step = round % 7 == 0 && i > n / 2 ? 50_000_000.0 : 0
                points.append((t, 100_000_000 + slope * t + step + Double.random(in: -noise...noise + 0.0001, using: &generator)))
            }
            let fit = GrowthFit.fit(points)
            let expected = Self.reference(points)
            #expect((fit == nil) == (expected == nil), "round \(round)")
            guard let fit, let expected else { continue }
            compared += 1
            #expect(fit.slope == expected.slope, "round \(round)")
            #expect(fit.valueAtEnd == expected.valueAtEnd && fit.valueAtStart == expected.valueAtStart, "round \(round)")
            #expect(fit.explained == expected.explained && fit.count == expected.count, "round \(round)")
            #expect(fit.start == expected.start && fit.end == expected.end, "round \(round)")
            let same = zip(fit.quarterMedians, expected.quarterMedians).allSatisfy { $0 == $1 || ($0.isNaN && $1.isNaN) }
            #expect(same && fit.quarterMedians.count == 4, "round \(round): \(fit.quarterMedians) vs \(expected.quarterMedians)")
        }
        #expect(compared > 300)
    }
}
