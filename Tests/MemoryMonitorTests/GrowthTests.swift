#if canImport(Glibc)
import Glibc
#endif
import TestSupport
import Testing
@testable import MemoryMonitor

/// Leak detection and prediction on synthetic series: one point every 10 s, 5-minute window,
/// 10 % threshold (the SPEC's defaults), 100 MiB to start.
@Suite("Leak detection and prediction", .offCooperativePool)
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
            let sample = Sample.fixture(timestamp: t, residentBytes: UInt64(rss))
            for event in tracker.observe(sample, level: .healthy).1 {
                if case .leakStarted = event { started += 1 }
                if case .leakEnded = event { ended += 1 }
            }
        }
        #expect(started == 1)
        #expect(ended == 1)
    }

    /// Checks every 0.1 s for ten minutes: the tracker keeps at most 64 points per window (63
    /// slots and the newest check), not 3000, and still sees the leak and its rate.
    @Test func frequentChecksKeepABoundedNumberOfPoints() throws {
        var config = MonitorConfiguration()
        config.experimental.predictiveAlerting = false
        var tracker = GrowthTracker(configuration: config)
        var started = false
        var rate: Double?
        for i in 0...6000 {
            let t = Double(i) / 10
            let rss = Self.base * (1 + 0.2 * t / 300) + Self.noise(t) * Self.mib
            let sample = Sample.fixture(timestamp: t, residentBytes: UInt64(rss))
            let (analysis, events) = tracker.observe(sample, level: .healthy)
            rate = analysis.rateBytesPerSecond
            if events.contains(where: { if case .leakStarted = $0 { true } else { false } }) { started = true }
            #expect(tracker.pointCount <= GrowthFit.maximumPoints)
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
        for i in 0...40 {
            let t = Double(i) * 10
            // 2 MiB/s towards the 1024 MiB warning (a prediction needs 270 s of it: `leastSpan`).
            let rss = 300 * Self.mib + t * 2 * Self.mib
            let sample = Sample.fixture(timestamp: t, residentBytes: UInt64(rss))
            for event in tracker.observe(sample, level: .healthy).1 { if case .trendStarted(let m, _) = event, message == nil { message = m } }
        }
        let text = try #require(message)
        #expect(text.hasPrefix("WARNING: RSS "))
        #expect(text.contains("growing 120.0 MB/min, crosses warning (1.0 GB) in about"))
    }

    /// Thresholds at the issue's scale (200/400/800 MiB), leak detection off: the trend alone.
    static var trendOnly: MonitorConfiguration {
        var config = MonitorConfiguration()
        config.monitoring.leakDetection.enabled = false
        config.thresholds.memoryWarningMB = 200
        config.thresholds.memoryCriticalMB = 400
        config.thresholds.memoryEmergencyMB = 800
        return config
    }

    /// The trend events of a trace of (time, RSS MiB) with warning at 200 MiB (the issue's scale).
    static func trendEvents(_ trace: [(Double, Double)], updates: Bool = false) -> [GrowthTracker.Event] {
        let config = Self.trendOnly
        var tracker = GrowthTracker(configuration: config)
        var events: [GrowthTracker.Event] = []
        for (t, mb) in trace {
            events += tracker.observe(Sample.fixture(timestamp: t, residentBytes: UInt64(mb * Self.mib)), level: .healthy).1.filter {
                switch $0 {
                case .trendStarted, .trendEnded: true
                case .trendUpdated: updates
                default: false
                }
            }
        }
        return events
    }

    /// The issue's step: 100 MiB more at once, then flat at 110 MiB. It predicted "crosses warning
    /// in about 52 s"; a step puts the whole rise in one quarter of the window, so now nothing.
    @Test func aStepThenFlatPredictsNothing() {
        let trace = stride(from: 0.0, through: 900, by: 2).map { t in (t, t < 200 ? 10.0 : 110.0) }
        #expect(Self.trendEvents(trace).isEmpty)
    }

    /// A 60 s sawtooth between 50 and 150 MiB, checked every second for 15 minutes: every rising
    /// edge is a straight line towards the warning, but the window's quarters do not rise.
    @Test func aSawtoothPredictsNothing() {
        let trace = stride(from: 0.0, through: 900, by: 1).map { t in (t, 50 + 100 * t.truncatingRemainder(dividingBy: 60) / 60) }
        #expect(Self.trendEvents(trace).isEmpty)
    }

    /// A 600 s sawtooth with the 300 s window: each rising edge is a straight line for two
    /// windows, so the first tooth looks like a leak. Every later tooth climbs back to the peak the
    /// first reached, and growth counts only past an earlier peak: one episode, not one per tooth.
    @Test func aSlowSawtoothIsALeakOnlyOnce() {
        var tracker = GrowthTracker(configuration: MonitorConfiguration())
        var leaks = 0
        for t in stride(from: 0.0, through: 3600, by: 10) {
            let mb = 80 + 100 * t.truncatingRemainder(dividingBy: 600) / 600
            for event in tracker.observe(Sample.fixture(timestamp: t, residentBytes: UInt64(mb * Self.mib)), level: .healthy).1 {
                if case .leakStarted = event { leaks += 1 }
            }
        }
        #expect(leaks == 1)
    }

    /// A cycle of two hours (60 to 180 MiB, the corpus's compressed day) seen for four hours with
    /// the 5-minute window: each rise is 10 % in 5 minutes for an hour, but only the first goes
    /// where the series has not been within `peak_lookback_seconds` (a day). With the lookback
    /// the tracker had before (eight windows, 40 minutes) every rise is a leak.
    @Test func aCyclesLaterRisesAreNotLeaksWithinTheLookback() {
        func leakStarts(lookback: Double) -> [Double] {
            var config = MonitorConfiguration()
            config.monitoring.leakDetection.peakLookbackSeconds = lookback
            var tracker = GrowthTracker(configuration: config)
            var starts: [Double] = []
            for t in stride(from: 0.0, through: 14_400, by: 10) {
                let mb = 120 + 60 * sin(2 * .pi * t / 7200)
                for event in tracker.observe(Sample.fixture(timestamp: t, residentBytes: UInt64(mb * Self.mib)), level: .healthy).1 {
                    if case .leakStarted = event { starts.append(t) }
                }
            }
            return starts
        }
        let starts = leakStarts(lookback: MonitorConfiguration().monitoring.leakDetection.peakLookbackSeconds)
        #expect(starts.count == 1 && starts[0] < 300, "\(starts)")
        #expect(leakStarts(lookback: 2400).count >= 2)
        #expect(leakStarts(lookback: 0).count >= 2)
    }

    /// The earlier peaks over a day of checks a second apart stay at most one per 1/128 of the
    /// lookback, even for a series that only falls (each value a peak of its own), and answer as
    /// the exact maximum over the lookback would, or over the lookback and one bucket more.
    @Test func earlierPeaksStayFewAndAnswerAsTheExactMaximum() {
        let lookback = 3600.0
        var peaks = SlidingMaximum(lookback: lookback)
        for t in stride(from: 0.0, through: 86_400, by: 1) { peaks.push(t: t, value: 1e9 - t, now: t) }
        #expect(peaks.count <= Int(SlidingMaximum.buckets) + 2, "\(peaks.count)")

        var generator = SeededGenerator(state: 4242)
        var sampled = SlidingMaximum(lookback: lookback)
        var pushed: [(t: Double, value: Double)] = []
        for t in stride(from: 0.0, through: 20_000, by: 20) {
            let value = 100 + 50 * sin(t / 900) + Double.random(in: -20...20, using: &generator)
            sampled.push(t: t, value: value, now: t)
            pushed.append((t, value))
            let probe = 100 + Double.random(in: -60...90, using: &generator)
            func exact(_ span: Double) -> Bool { pushed.allSatisfy { $0.t < t - span || $0.value < probe } }
            let answer = sampled.isBelow(probe, now: t)
            // Above the maximum of the lookback and a bucket more: above the kept ones too; above
            // the kept ones: above the lookback's.
            if exact(lookback + lookback / SlidingMaximum.buckets) { #expect(answer, "t \(t)") }
            if answer { #expect(exact(lookback), "t \(t)") }
        }

        // Where the buckets differ from the exact maximum: a peak and a lower value later in its
        // bucket (28 s wide here) are one entry, kept as long as the later one.
        var merged = SlidingMaximum(lookback: lookback)
        merged.push(t: 0, value: 200, now: 0)
        merged.push(t: 20, value: 100, now: 20)
        #expect(merged.count == 1)
        #expect(!merged.isBelow(150, now: 3610))  // the exact maximum, 100, would be below 150
        #expect(merged.isBelow(150, now: 3625))
    }

    /// The corpus's slow leak under noise (5 MiB/min from 100 MiB, noise sd 8 MiB, a sample every
    /// 10 s), over five seeds: a line explains less than 80 % of a window's variance, but the
    /// slope is many standard errors. The old rule (R² ≥ 0.8 alone, earlier peaks from single
    /// samples) took 690 s in the median over 20 seeds (scripts/alert-quality.py --seeds 20).
    @Test func aSlowLeakUnderNoiseIsFoundWithinAboutAWindow() {
        var delays: [Double] = []
        for seed in 1...5 {
            var generator = SeededGenerator(state: UInt64(seed) * 7919)
            var tracker = GrowthTracker(configuration: MonitorConfiguration())
            var found: Double?
            for t in stride(from: 0.0, through: 3600, by: 10) where found == nil {
                // Box–Muller: a normal sample from two uniform ones.
                let (u1, u2) = (Double.random(in: Double.ulpOfOne..<1, using: &generator), Double.random(in: 0..<1, using: &generator))
                let noise = 8 * (-2 * log(u1)).squareRoot() * cos(2 * .pi * u2)
                let mb = 100 + max(0, t - 600) * 5 / 60 + noise
                for event in tracker.observe(Sample.fixture(timestamp: t, residentBytes: UInt64(mb * Self.mib)), level: .healthy).1 {
                    if case .leakStarted = event { found = t }
                }
            }
            guard let found else {
                Issue.record("seed \(seed): not found in an hour")
                continue
            }
            #expect(found > 600, "seed \(seed): a leak before the leak started, at \(found) s")
            delays.append(found - 600)
        }
        delays.sort()
        #expect(delays.count == 5 && delays[2] <= 400, "delays \(delays)")
        #expect(delays.allSatisfy { $0 <= 900 }, "delays \(delays)")
    }

    /// A steady leak under noise (5 MiB/min from 100 to 300 MiB, noise sd 8 MiB) is one episode
    /// that ends once the growth stops: a dip of the noisy slope does not end it (the end needs
    /// the growth below half the threshold even two standard errors above the slope), over five
    /// seeds. Before, the corpus's seed resolved and raised it again three times.
    @Test func aNoisyLeakIsOneEpisodeThatEndsWhenTheGrowthStops() {
        for seed in 1...5 {
            var generator = SeededGenerator(state: UInt64(seed) * 104_729)
            var tracker = GrowthTracker(configuration: MonitorConfiguration())
            var events: [(Double, String)] = []
            for t in stride(from: 0.0, through: 4800, by: 10) {
                let (u1, u2) = (Double.random(in: Double.ulpOfOne..<1, using: &generator), Double.random(in: 0..<1, using: &generator))
                let noise = 8 * (-2 * log(u1)).squareRoot() * cos(2 * .pi * u2)
                let mb = 100 + min(max(0, t - 600), 2400) * 5 / 60 + noise
                for event in tracker.observe(Sample.fixture(timestamp: t, residentBytes: UInt64(mb * Self.mib)), level: .healthy).1 {
                    if case .leakStarted = event { events.append((t, "started")) }
                    if case .leakEnded = event { events.append((t, "ended")) }
                }
            }
            #expect(events.count == 2 && events.first?.1 == "started" && events.last?.1 == "ended", "seed \(seed): \(events)")
            if let end = events.last, end.1 == "ended" {
                #expect(end.0 > 3000 && end.0 <= 3900, "seed \(seed): ended at \(end.0) s; the growth stopped at 3000 s")
            }
        }
    }

    /// A cache warming up (50 MiB rising to 180 MiB, ever more slowly) is neither a leak nor a
    /// trend toward the 200 MiB warning: its rise certainly slows. Before, its first minutes
    /// raised one of each.
    @Test func aCacheWarmingUpIsNeitherALeakNorATrend() {
        var config = MonitorConfiguration()
        config.thresholds.memoryWarningMB = 200
        config.thresholds.memoryCriticalMB = 400
        config.thresholds.memoryEmergencyMB = 800
        config.experimental.predictiveAlerting = true
        var tracker = GrowthTracker(configuration: config)
        var events: [GrowthTracker.Event] = []
        for t in stride(from: 0.0, through: 7200, by: 10) {
            let mb = 50 + 130 * (1 - exp(-t / 600))
            events += tracker.observe(Sample.fixture(timestamp: t, residentBytes: UInt64(mb * Self.mib)), level: .healthy).1
        }
        #expect(events.isEmpty, "\(events)")
    }

    /// A cache warming up to just under the warning threshold (τ = 600 s, from 54 MiB to 195 MiB,
    /// warning 200 MiB) predicts nothing. Its first minutes look straight: with a trusted fit
    /// after half a window (150 s) a trend alert said "crosses warning (200.0 MB) in about 10 min"
    /// there, and again at 740 s; a line is now not extrapolated more than twice as far as it has
    /// been seen (`leastSpan`), and by then the window sees the bend.
    @Test func aWarmUpLevellingOffUnderTheThresholdPredictsNothing() {
        let trace = stride(from: 0.0, through: 3600, by: 10).map { t in (t, (50 + 130 * (1 - exp(-t / 600))) * 195 / 180) }
        let events = Self.trendEvents(trace, updates: true)
        #expect(events.isEmpty, "\(events)")
    }

    /// A cycle of two hours peaking just under the warning threshold (60 to 195 MiB, warning 200
    /// MiB), checked every 10 s: its rise slows toward the peak, so each check's fit puts the
    /// crossing later than the last one did. Without the recession counted a trend alert said
    /// "crosses warning (200.0 MB) in about 10 min", was updated to 8 and 7 minutes, and resolved
    /// "no crossing predicted"; the crossings the window's newer half predicted move later fast
    /// enough (`recession`) that, counted, none comes within the prediction window.
    @Test func aCrossingThatKeepsRecedingIsNotPredicted() {
        let trace = stride(from: 0.0, through: 3600, by: 10).map { t in (t, (120 + 60 * sin(2 * Double.pi * t / 7200)) * 195 / 180) }
        let events = Self.trendEvents(trace, updates: true)
        #expect(events.isEmpty, "\(events)")
    }

    /// How fast the predicted crossing moves later: about 0 on a line; on a cache warming up
    /// (τ = 600 s, at 900 s, 10 MiB under the warning) well above 0 (the tangent's crossing,
    /// (B − v) ÷ v′, moves by (B − v) ÷ (τ·v′) ≈ 0.25 s a second; the window's line, which lags
    /// the tangent, more); below 0 on growth that quickens; nothing before the newer half of the
    /// window holds a quarter of the window of predictions.
    @Test func theRecessionOfTheCrossingIsZeroOnALinePositiveOnAWarmUpNegativeOnAQuickening() throws {
        func recessions(_ value: (Double) -> Double, through end: Double) -> [Double?] {
            var tracker = GrowthTracker(configuration: Self.trendOnly)
            return stride(from: 0.0, through: end, by: 10).map { t in
                _ = tracker.observe(Sample.fixture(timestamp: t, residentBytes: UInt64(value(t) * Self.mib)), level: .healthy)
                return tracker.recession(.threshold(.warning))
            }
        }
        let line = recessions({ 100 + $0 * 0.1 }, through: 600)
        #expect(line[5] == nil)
        let onLine = try #require(line.last ?? nil)
        #expect(abs(onLine) < 0.01, "\(onLine)")
        let warmUp = try #require(recessions({ 50 + 180 * (1 - exp(-$0 / 600)) }, through: 900).last ?? nil)
        #expect(warmUp > 0.2 && warmUp < 1, "\(warmUp)")
        let quickening = try #require(recessions({ 100 + 0.0002 * $0 * $0 }, through: 600).last ?? nil)
        #expect(quickening < -0.1, "\(quickening)")
    }

    /// A line already over a threshold predicts no crossing of it (0 s is a reading): no
    /// recession is taken from such checks, where their times, each "now", would make one of a
    /// second a second and hold back a later trend toward that threshold.
    @Test func aLineOverTheThresholdGivesNoRecession() {
        var tracker = GrowthTracker(configuration: Self.trendOnly)
        for t in stride(from: 0.0, through: 600, by: 10) {
            _ = tracker.observe(Sample.fixture(timestamp: t, residentBytes: UInt64((250 + t * 0.01) * Self.mib)), level: .healthy)
        }
        #expect(tracker.recession(.threshold(.warning)) == nil)
        #expect(tracker.recession(.threshold(.critical)) != nil)
    }

    /// A cache warming up past the threshold (τ = 1200 s, from 69 MiB toward 250, warning 200 MiB,
    /// crossing at 1550 s) gets its trend alert before the crossing, within the prediction
    /// window: its crossing recedes too, slowly enough to come. Without the recession counted the
    /// alert came at 620 s, "in about 10 min", 930 s before the crossing.
    @Test func aWarmUpThatCrossesIsStillPredictedInTime() throws {
        var tracker = GrowthTracker(configuration: Self.trendOnly)
        let value = { (t: Double) in (50 + 130 * (1 - exp(-t / 1200))) * 250 / 180 }
        var started: Double?
        var crossing: Double?
        for t in stride(from: 0.0, through: 3600, by: 10) {
            if crossing == nil, value(t) >= 200 { crossing = t }
            let events = tracker.observe(Sample.fixture(timestamp: t, residentBytes: UInt64(value(t) * Self.mib)), level: crossing == nil ? .healthy : .warning).1
            if started == nil, events.contains(where: { if case .trendStarted = $0 { true } else { false } }) { started = t }
        }
        let at = try #require(started)
        let crossed = try #require(crossing)
        #expect(at < crossed && crossed - at <= 600, "trend alert at \(at) s, crossing at \(crossed) s")
    }

    /// A linear leak is still predicted, once, and the trend resolves when the growth stops.
    @Test func aLinearLeakIsPredictedAndResolvesWhenGrowthStops() {
        let trace = stride(from: 0.0, through: 1500, by: 5).map { t in (t, t < 400 ? 20 + t * 0.25 : 120.0) }
        let events = Self.trendEvents(trace)
        guard events.count == 2, case .trendStarted(_, let seconds) = events[0], case .trendEnded = events[1] else {
            Issue.record("\(events)")
            return
        }
        #expect(seconds > 0 && seconds <= 600)
    }

    /// A leak that speeds up: the open trend alert's time to the crossing is refreshed when the
    /// prediction moves by more than a quarter, and each refresh is nearer than the last.
    @Test func theTimeToTheCrossingIsRefreshedWhenItMovesByAQuarter() {
        let trace = stride(from: 0.0, through: 900, by: 5).map { t in (t, t < 450 ? 100 + t * 0.1 : 145 + (t - 450) * 0.4) }
        let events = Self.trendEvents(trace, updates: true)
        var said: [Double] = []
        for event in events {
            switch event {
            case .trendStarted(_, let seconds), .trendUpdated(_, let seconds): said.append(seconds)
            default: break
            }
        }
        guard case .trendStarted = events.first else { Issue.record("\(events)"); return }
        #expect(said.count >= 2, "\(events)")
        #expect(events.contains { if case .trendUpdated(let m, _) = $0 { m.hasSuffix("(updated)") } else { false } })
        #expect(zip(said, said.dropFirst()).allSatisfy { $1 < $0 }, "\(said)")
    }

    /// `Analysis.trend` (the gauge `memory_trend_predicted_seconds`, which the bundled
    /// `MemoryTrendPredicted` rule reads) is the open trend alert: the issue's step gives a
    /// growing fit with a crossing "in about 52 s" (`secondsToThreshold`, which the rule read
    /// before) and no trend; a linear leak gives one from its start event to its end, counting down.
    @Test func theTrendAnalysisIsTheOpenAlertNotEveryGrowingFit() throws {
        let config = Self.trendOnly
        var step = GrowthTracker(configuration: config)
        var soonest = Double.infinity
        for t in stride(from: 0.0, through: 900, by: 2) {
            let (analysis, _) = step.observe(Sample.fixture(timestamp: t, residentBytes: UInt64((t < 200 ? 10.0 : 110.0) * Self.mib)), level: .healthy)
            soonest = min(soonest, analysis.secondsToThreshold[.warning] ?? .infinity)
            #expect(analysis.trend == nil, "t \(t)")
        }
        #expect(soonest < 600, "the step's fits predict a crossing (what the rule read before): \(soonest)")

        var leak = GrowthTracker(configuration: config)
        var open = false
        var said: [Double] = []
        for t in stride(from: 0.0, through: 1500, by: 5) {
            let (analysis, events) = leak.observe(Sample.fixture(timestamp: t, residentBytes: UInt64((t < 400 ? 20 + t * 0.25 : 120.0) * Self.mib)), level: .healthy)
            for event in events {
                if case .trendStarted = event { open = true }
                if case .trendEnded = event { open = false }
            }
            #expect((analysis.trend != nil) == open, "t \(t)")
            if let trend = analysis.trend {
                #expect(trend.crossing == "warning")
                said.append(trend.seconds)
            }
        }
        #expect(!said.isEmpty && zip(said, said.dropFirst()).allSatisfy { $1 <= $0 }, "\(said)")
    }

    /// With `alerting.for_checks` above 1 a level needs consecutive checks over the threshold,
    /// which noise does not bring early: the time to a threshold is then the line's.
    @Test func withSeveralChecksToFireTheTimeIsTheLines() throws {
        var generator = SeededGenerator(state: 7)
        let noise = (0...60).map { _ in 8 * Self.gaussian(&generator) }
        var seconds: [Int: Double] = [:]
        for forChecks in [1, 3] {
            var config = Self.trendOnly
            config.alerting.forChecks = forChecks
            var tracker = GrowthTracker(configuration: config)
            for (i, n) in noise.enumerated() {
                let t = Double(i) * 10
                let mb = 100 + t * 5 / 60 + n
                seconds[forChecks] = tracker.observe(Sample.fixture(timestamp: t, residentBytes: UInt64(mb * Self.mib)), level: .healthy).0
                    .secondsToThreshold[.warning]
            }
        }
        // The same checks: 1.5 to 2 standard deviations of the noise at 5 MiB/min is 2 to 3 minutes.
        let (first, consecutive) = (try #require(seconds[1]), try #require(seconds[3]))
        #expect(consecutive - first > 90, "for_checks 1: \(first) s, 3: \(consecutive) s")
    }

    /// Memory in use following a two-hour cycle that peaks at 975 MiB on a 1000 MiB host (RSS
    /// flat): the crossing of the limit recedes as the rise slows toward the peak, as a
    /// threshold's does, and no trend alert toward the limit is raised.
    @Test func aLimitCrossingThatKeepsRecedingIsNotPredicted() {
        var tracker = GrowthTracker(configuration: Self.trendOnly)
        let total: UInt64 = 1000 << 20
        var events: [GrowthTracker.Event] = []
        for t in stride(from: 0.0, through: 3600, by: 10) {
            let used = (120 + 60 * sin(2 * Double.pi * t / 7200)) * 975 / 180
            let host = MemInfo(totalBytes: total, availableBytes: total - UInt64(used * Self.mib))
            let sample = Sample.fixture(timestamp: t, status: ProcessStatus(name: "x", residentBytes: 100 << 20), host: host)
            events += tracker.observe(sample, level: .healthy).1
        }
        #expect(events.isEmpty, "\(events)")
    }

    /// A trend toward the limit (memory in use on a 1000 MiB host rising 0.5 MiB/s, RSS flat):
    /// one alert, reported as `limit` by the analysis, that ends "the crossing came" once memory
    /// in use is at the limit, and is not raised again while it stays there.
    @Test func aTrendTowardTheLimitEndsWhenTheLimitIsReached() {
        var tracker = GrowthTracker(configuration: Self.trendOnly)
        let total: UInt64 = 1000 << 20
        var events: [String] = []
        var crossings: Set<String> = []
        for t in stride(from: 0.0, through: 1500, by: 5) {
            let used = min(1000, 600 + t * 0.5)
            let host = MemInfo(totalBytes: total, availableBytes: total - UInt64(used * Self.mib))
            let sample = Sample.fixture(timestamp: t, status: ProcessStatus(name: "x", residentBytes: 100 << 20), host: host)
            let (analysis, changes) = tracker.observe(sample, level: .healthy)
            if let trend = analysis.trend { crossings.insert(trend.crossing) }
            for change in changes {
                switch change {
                case .trendStarted(let m, _): events.append("\(t) started: \(m)")
                case .trendEnded(let m): events.append("\(t) ended: \(m)")
                default: break
                }
            }
        }
        #expect(events.count == 2 && events[0].contains("reaches the limit") && events[1].contains("the crossing came"), "\(events)")
        #expect(crossings == ["limit"])
    }

    /// A normal sample from the generator (Box–Muller).
    static func gaussian(_ generator: inout SeededGenerator) -> Double {
        let (u1, u2) = (Double.random(in: Double.ulpOfOne..<1, using: &generator), Double.random(in: 0..<1, using: &generator))
        return (-2 * log(u1)).squareRoot() * cos(2 * .pi * u2)
    }

    /// The corpus's noisy leak (5 MiB/min from 100 MiB after 600 s, noise sd 8 MiB, a check every
    /// 10 s) past the 200 MiB warning toward the 400 MiB critical, with the level each check
    /// reads: one trend alert toward each threshold, each ending when its crossing comes, over
    /// five seeds. Before, a check whose fit was not trusted (the noise) resolved the alert and
    /// the next one raised it again: three to seven times per seed.
    @Test func aNoisyLeaksTrendAlertIsOneAlertPerCrossing() {
        var config = Self.trendOnly
        config.monitoring.checkInterval = 10
        let bounds = ThresholdPolicy(config.thresholds).processMB
        for seed in 1...5 {
            var generator = SeededGenerator(state: UInt64(seed) * 7877)
            var tracker = GrowthTracker(configuration: config)
            var levels = LevelTracker()
            var events: [String] = []
            for t in stride(from: 0.0, through: 4200, by: 10) {
                let mb = 100 + max(0, t - 600) * 5 / 60 + 8 * Self.gaussian(&generator)
                _ = levels.update(value: mb, bounds: bounds)
                for event in tracker.observe(Sample.fixture(timestamp: t, residentBytes: UInt64(mb * Self.mib)), level: levels.level).1 {
                    switch event {
                    case .trendStarted(let m, _): events.append("\(t) started \(levels.level) \(m)")
                    case .trendEnded(let message): events.append("\(t) \(levels.level) \(message)")
                    case .trendUpdated(let m, _): events.append("\(t) \(levels.level) \(m)")
                    default: break
                    }
                }
            }
            // Toward warning, then toward critical (the second may start as an update of the first).
            let starts = events.filter { $0.contains(" started ") }.count
            let resolved = events.filter { $0.contains("RESOLVED: no crossing predicted") }.count
            #expect(starts >= 1 && starts <= 2 && resolved == 0, "seed \(seed): \(events)")
        }
    }

    /// One low sample does not end a noisy leak's trend alert: the same leak, with one check in
    /// every 200 s read 30 MiB (3.75 standard deviations of the noise) below the line, over 40
    /// seeds. A sawtooth's fall is two checks or more below the line. On the corpus's noisy leak
    /// with the 300 s window, 5 of 126 trend alerts ended "no crossing predicted" before their
    /// crossing came: one on such a sample, four when the window's slope dipped under the noise
    /// (the spans weighed together now decide); this fails with either change undone.
    @Test func oneLowSampleDoesNotEndANoisyLeaksTrendAlert() {
        var config = Self.trendOnly
        config.monitoring.checkInterval = 10
        let bounds = ThresholdPolicy(config.thresholds).processMB
        var resolved: [String] = []
        for seed in 1...40 {
            var generator = SeededGenerator(state: UInt64(seed) * 6007)
            var tracker = GrowthTracker(configuration: config)
            var levels = LevelTracker()
            for t in stride(from: 0.0, through: 4200, by: 10) {
                let low = t > 600 && t.truncatingRemainder(dividingBy: 200) == 0 ? 30.0 : 0
                let mb = 100 + max(0, t - 600) * 5 / 60 + 8 * Self.gaussian(&generator) * (low > 0 ? 0 : 1) - low
                _ = levels.update(value: mb, bounds: bounds)
                for event in tracker.observe(Sample.fixture(timestamp: t, residentBytes: UInt64(mb * Self.mib)), level: levels.level).1 {
                    if case .trendEnded(let message) = event, message.contains("no crossing predicted") { resolved.append("seed \(seed) at \(t): \(message)") }
                }
            }
        }
        #expect(resolved.isEmpty, "\(resolved.count): \(resolved)")
    }

    /// A trend alert says a crossing within the prediction window, also when it is refreshed
    /// after the time it said has passed: warm-ups that level off just under the 200 MiB warning
    /// (τ from 120 to 600 s, noise sd 2 or 8 MiB, a check every 10 s, 20 seeds each). Before, an
    /// alert whose time had passed was refreshed with whatever this check's line gave ("crosses
    /// warning (200.0 MB) in about 27 min") and resolved a check or two later; now it resolves
    /// at once when the time is past the window.
    @Test func aTrendAlertNeverSaysACrossingBeyondThePredictionWindow() {
        var config = Self.trendOnly
        config.monitoring.checkInterval = 10
        let window = config.experimental.predictionWindow
        var beyond: [String] = []
        for tau in [120.0, 300, 600] {
            for sd in [2.0, 8] {
                for seed in 1...20 {
                    var generator = SeededGenerator(state: UInt64(seed) * 4099 + UInt64(tau))
                    var tracker = GrowthTracker(configuration: config)
                    for t in stride(from: 0.0, through: 3600, by: 10) {
                        let mb = 50 + 145 * (1 - exp(-t / tau)) + sd * Self.gaussian(&generator)
                        for event in tracker.observe(Sample.fixture(timestamp: t, residentBytes: UInt64(mb * Self.mib)), level: .healthy).1 {
                            switch event {
                            case .trendStarted(let m, let seconds), .trendUpdated(let m, let seconds):
                                if seconds > window { beyond.append("τ \(tau), sd \(sd), seed \(seed) at \(t): \(m)") }
                            default: break
                            }
                        }
                    }
                }
            }
        }
        #expect(beyond.isEmpty, "\(beyond.count): \(beyond)")
    }

    /// A leak whose rate dropped once (the recorded example service: 7.5 MiB/min for its first
    /// 650 s, then 6.0) slows within an 1800 s window, but its window's newer half goes on along
    /// a line: a leak within the window (it waited for the drop to leave the window: 1915 s on
    /// the recording). A cache warming up over hours (τ = 4800 s) still slows in its newer half
    /// and is not one within the same time, nor a rise that slows throughout (50 + 2√t MiB).
    @Test func aLeakWhoseRateDroppedOnceIsFoundWithinTheWindow() {
        var config = MonitorConfiguration()
        config.monitoring.leakDetection.monitoringWindow = 1800
        config.monitoring.checkInterval = 5
        func leakStart(_ series: (Double) -> Double) -> Double? {
            var tracker = GrowthTracker(configuration: config)
            for t in stride(from: 0.0, through: 2400, by: 5) {
                let events = tracker.observe(Sample.fixture(timestamp: t, residentBytes: UInt64(series(t) * Self.mib)), level: .healthy).1
                if events.contains(where: { if case .leakStarted = $0 { true } else { false } }) { return t }
            }
            return nil
        }
        let dropped = leakStart { t in 27 + min(t, 650) * 7.5 / 60 + max(0, t - 650) * 6 / 60 }
        #expect(dropped.map { $0 < 1800 } == true, "found after \(String(describing: dropped)) s")
        #expect(leakStart { t in 50 + 130 * (1 - exp(-t / 4800)) } == nil)
        #expect(leakStart { t in 50 + 2 * t.squareRoot() } == nil)
    }

    /// The newer half "goes on along a line" only where its bend can be told: with three points
    /// (checks a minute apart in a 5-minute window) the curvature is unknown, reported as 0, and
    /// that is not evidence of a straight line, even when the three are on one.
    @Test func aNewerHalfOfThreePointsDoesNotGoOn() throws {
        let sparse: [(t: Double, v: Double)] = stride(from: 0.0, through: 300, by: 60).map { t in (t, 100 + t / 10) }
        let whole = try #require(GrowthFit.fit(sparse))
        let three = try #require(GrowthFit.fit(Array(sparse.suffix(3))))
        #expect(three.curvatureSignificance == 0)
        #expect(!LeakRule.goesOn(three, after: whole))
        // Sixteen points on a line with a little alternating noise: it goes on.
        let line: [(t: Double, v: Double)] = stride(from: 150.0, through: 300, by: 10).map { t in
            let wobble = Int(t) % 20 == 0 ? 0.1 : -0.1
            return (t, 100 + t / 10 + wobble)
        }
        let many = try #require(GrowthFit.fit(line))
        #expect(LeakRule.goesOn(many, after: many))
    }

    /// A cache warming up fast (100 → 160 MiB, τ = 120 s) under 2 MiB of noise, 20 seeds: its
    /// rise slows by far more than 30 % across a window, but the noise hides the bend from a
    /// 5-standard-error test; at 3 the warm-up is told from a leak in most seeds.
    @Test func aNoisyFastWarmUpIsMostlyNotALeak() {
        var leaks = 0
        for seed in 1...20 {
            var generator = SeededGenerator(state: UInt64(seed) * 6151)
            var tracker = GrowthTracker(configuration: MonitorConfiguration())
            for t in stride(from: 0.0, through: 1800, by: 10) {
                let mb = 100 + 60 * (1 - exp(-t / 120)) + 2 * Self.gaussian(&generator)
                let events = tracker.observe(Sample.fixture(timestamp: t, residentBytes: UInt64(mb * Self.mib)), level: .healthy).1
                if events.contains(where: { if case .leakStarted = $0 { true } else { false } }) { leaks += 1 }
            }
        }
        #expect(leaks <= 4, "leak alerts in \(leaks) of 20 seeds")
    }

    /// A leak that has gone on along one line for longer than the window: the trend alert's
    /// time counts the slope over two and four windows, which noise moves less than one
    /// window's. Over 30 seeds of a 5 MiB/min leak under 8 MiB of noise, at each trend alert
    /// (started or updated), its time is compared with the check that first read the threshold
    /// in the same series, and so is the time the window's fit alone gives at that check
    /// (`secondsToThreshold`, the gauge's): the alert's is closer in the median.
    @Test func aLongLeaksTrendTimeCountsTheSlopeOverLongerSpans() throws {
        var config = Self.trendOnly
        config.monitoring.checkInterval = 10
        let bounds = ThresholdPolicy(config.thresholds).processMB
        var alertErrors: [Double] = []
        var windowErrors: [Double] = []
        for seed in 1...30 {
            var generator = SeededGenerator(state: UInt64(seed) * 104_729)
            let series = stride(from: 0.0, through: 4800, by: 10).map { t in (t, 100 + t * 5 / 60 + 8 * Self.gaussian(&generator)) }
            var tracker = GrowthTracker(configuration: config)
            var levels = LevelTracker()
            for (t, mb) in series where t <= 4200 {
                _ = levels.update(value: mb, bounds: bounds)
                let (analysis, events) = tracker.observe(Sample.fixture(timestamp: t, residentBytes: UInt64(mb * Self.mib)), level: levels.level)
                for event in events {
                    let said: Double
                    switch event {
                    case .trendStarted(_, let seconds), .trendUpdated(_, let seconds): said = seconds
                    default: continue
                    }
                    let crossing = try #require(analysis.trend?.crossing)
                    let severity = try #require(Severity.alerting.first { $0.description == crossing })
                    let bound = try #require(bounds.bound(for: severity))
                    let window = try #require(analysis.secondsToThreshold[severity])
                    guard let reached = series.first(where: { $0.0 > t && $0.1 >= bound })?.0 else { continue }
                    alertErrors.append(abs(said - (reached - t)))
                    windowErrors.append(abs(window - (reached - t)))
                }
            }
        }
        let median = { (values: [Double]) in values.sorted()[values.count / 2] }
        #expect(alertErrors.count >= 40, "trend alerts: \(alertErrors.count)")
        #expect(median(alertErrors) < 0.9 * median(windowErrors), "median error \(median(alertErrors)) s against the window's \(median(windowErrors)) s")
    }

    /// A leak that started within the window and the longer spans (flat for 1000 s, then
    /// 10 MiB/min): the halves of each span differ, so the window's newer half, all leak, weighs
    /// most. At the trend alert's start its time is within 3 % of the line's, where the window's
    /// fit alone, which still holds the flat start, is more than 10 % late.
    @Test func aLeakThatStartedWithinTheSpansTakesTheNewestSlope() throws {
        var config = Self.trendOnly
        config.monitoring.checkInterval = 10
        var tracker = GrowthTracker(configuration: config)
        var compared = 0
        for t in stride(from: 0.0, through: 1800, by: 10) {
            let mb = 100 + max(0, t - 1000) * 10 / 60 + Self.noise(t)
            let (analysis, events) = tracker.observe(Sample.fixture(timestamp: t, residentBytes: UInt64(mb * Self.mib)), level: .healthy)
            for case .trendStarted(_, let seconds) in events {
                let line = (200 - (100 + (t - 1000) * 10 / 60)) * 6
                let window = try #require(analysis.secondsToThreshold[.warning])
                #expect(abs(seconds - line) <= 0.03 * line, "t \(t): the alert said \(seconds) s, the line's time is \(line) s; \(events)")
                #expect(window > 1.1 * line, "t \(t): the window's fit said \(window) s, the line's time is \(line) s")
                compared += 1
            }
        }
        #expect(compared == 1)
    }

    /// Under noise the first check over a threshold comes before the line reaches it. The time the
    /// model gives equals the median of 4000 simulated runs (checks every 10 s of the line plus
    /// independent normal noise) within one check, for slow and fast rises; without noise it is
    /// the line's time.
    @Test func theFirstCheckOverAThresholdIsTheMedianOfSimulatedRuns() throws {
        var generator = SeededGenerator(state: 20261207)
        for (slope, noise) in [(5.0 / 60, 8.0), (1.0 / 60, 8.0), (30.0 / 60, 8.0), (5.0 / 60, 2.0)] {
            let fit = GrowthFit(
                slope: slope, valueAtEnd: 150, valueAtStart: 150 - slope * 300, start: 0, end: 300, explained: 0.5, significance: 5, curvature: 0,
                curvatureSignificance: 0, noise: noise, scatter: noise, count: 30, quarterMedians: [])
            let model = try #require(fit.secondsUntilFirstCheck(reaching: 200, interval: 10))
            var firsts: [Double] = []
            for _ in 0..<4000 {
                var k = 1.0
                while 150 + slope * 10 * k + noise * Self.gaussian(&generator) < 200 { k += 1 }
                firsts.append(k * 10)
            }
            firsts.sort()
            let median = firsts[firsts.count / 2]
            #expect(abs(model - median) <= 10, "slope \(slope * 60)/min, noise \(noise): model \(model) s, simulated \(median) s, line \(fit.secondsUntil(200)!) s")
            #expect(model <= fit.secondsUntil(200)!)
            // Far targets share one lead: the same time within a check.
            var lead: Double?
            let shared = try #require(fit.secondsUntilFirstCheck(reaching: 200, interval: 10, lead: &lead))
            #expect(lead != nil && abs(shared - model) <= 10, "shared lead \(shared) s against \(model) s")
            if slope < 0.1 && noise > 2 { #expect(model < fit.secondsUntil(200)! - 60, "a slow rise under noise crosses at least a minute early") }
        }
        let quiet = GrowthFit(
            slope: 1, valueAtEnd: 150, valueAtStart: 0, start: 0, end: 150, explained: 1, significance: .infinity, curvature: 0, curvatureSignificance: 0,
            noise: 0.5, scatter: 0.5, count: 30, quarterMedians: [])
        #expect(quiet.secondsUntilFirstCheck(reaching: 200, interval: 10) == 50)
        #expect(GrowthFit(
            slope: 0, valueAtEnd: 150, valueAtStart: 150, start: 0, end: 300, explained: 0, significance: 0, curvature: 0, curvatureSignificance: 0,
            noise: 8, scatter: 8, count: 30, quarterMedians: []).secondsUntilFirstCheck(reaching: 200, interval: 10) == nil)
    }

    /// Trend and leak alerts say what their numbers are: seconds to the crossing against the
    /// prediction window, MB/min of growth against the least the leak rule counts; `memory_usage`
    /// is the target's RSS in MB, as for process_memory.
    @Test func trendAndLeakAlertsStateTheirUnits() throws {
        let config = MonitorConfiguration()
        var evaluator = AlertEvaluator(
            policy: ThresholdPolicy(config.thresholds), forChecks: 1, hysteresisPercent: 5, instance: "h", growth: GrowthTracker(configuration: config))
        var trend: Alert?
        var leak: Alert?
        var lastRSS = 0.0
        for i in 0...40 {
            let t = Double(i) * 10
            lastRSS = 400 * Self.mib + t * 1 * Self.mib  // 60 MB/min towards the 1024 MB warning
            for alert in evaluator.evaluate(Sample.fixture(timestamp: t, residentBytes: UInt64(lastRSS))).alerts where alert.status == .firing {
                if alert.component == .memoryTrend, trend == nil { trend = alert }
                if alert.component == .memoryLeak, leak == nil { leak = alert }
            }
        }
        let t = try #require(trend)
        guard case .object(let tp) = t.payload else { Issue.record("not an object"); return }
        #expect(tp["unit"] == "seconds")
        #expect(tp["threshold"] == .number(config.experimental.predictionWindow))
        if case .number(let seconds) = tp["value"] { #expect(seconds > 0 && seconds <= config.experimental.predictionWindow) } else { Issue.record("no value") }
        if case .number(let usage) = tp["memory_usage"] { #expect(usage > 400 && usage < 1024) } else { Issue.record("no memory_usage") }
        let l = try #require(leak)
        guard case .object(let lp) = l.payload else { Issue.record("not an object"); return }
        #expect(lp["unit"] == "MB/min")
        if case .number(let rate) = lp["value"], case .number(let least) = lp["threshold"] {
            #expect(abs(rate - 60) < 3, "\(rate) MB/min")
            #expect(least > 0 && least < rate)
        } else {
            Issue.record("no value or threshold")
        }
    }

    /// A leak episode ends when its growth stops or slows, not when the target has grown so
    /// large that a steady leak is a small share of it: a 5 MB/min leak from 100 MB used to end
    /// at about 500 MB ("memory growth stopped for a window", while it went on). A rise that
    /// slows (a cache warming up from 20 MB, taken for a leak in its first minutes) still ends
    /// once it is small by the rule at the size now and at under half the rate it was detected
    /// with: against the size at detection alone it stayed open until 4490 s. The resolve says
    /// what the growth is against what it was detected with, or that it is not growing.
    @Test func aSteadyLeakStaysOneEpisodeAndItsResolveSaysWhatTheGrowthIs() throws {
        var config = MonitorConfiguration()
        config.experimental.predictiveAlerting = false
        func leakAlerts(_ rss: (Double) -> Double) -> [Alert] {
            var evaluator = AlertEvaluator(
                policy: ThresholdPolicy(config.thresholds), forChecks: 1, hysteresisPercent: 5, instance: "h", growth: GrowthTracker(configuration: config))
            var out: [Alert] = []
            for i in 0...720 {
                let t = Double(i) * 10
                out += evaluator.evaluate(Sample.fixture(timestamp: t, residentBytes: UInt64(rss(t) * Self.mib))).alerts.filter { $0.component == .memoryLeak }
            }
            return out
        }
        let steady = leakAlerts { 100 + $0 * 5 / 60 }
        #expect(steady.map(\.status) == [.firing], "two hours at 5 MB/min, 100 to 700 MB: \(steady.map(\.message))")

        // Growth that slowed at 900 s from 20 to 0.5 MB/min.
        let slowed = leakAlerts { 100 + min($0, 900) * 20 / 60 + max(0, $0 - 900) * 0.5 / 60 }
        let end = try #require(slowed.last)
        #expect(slowed.map(\.status) == [.firing, .resolved])
        guard case .object(let q) = end.payload, case .number(let after) = q["value"], case .number(let detected) = q["threshold"] else {
            Issue.record("no value or threshold")
            return
        }
        #expect(after > 0 && after < detected / 2 && abs(detected - 20) < 0.01, "\(after), \(detected) MB/min")
        #expect(
            end.message.hasPrefix("RESOLVED: memory leak no longer suspected: resident memory growing ")
                && end.message.hasSuffix("/min over the window, down from the 20.0 MB/min it was detected with"), "\(end.message)")

        // A cache warming up from 20 MB toward 170 MB (time constant 20 minutes).
        let warmUp = leakAlerts { 20 + 150 * (1 - exp(-$0 / 1200)) }
        #expect(warmUp.map(\.status) == [.firing, .resolved] && warmUp.last.map { $0.timestamp < 3000 } == true, "\(warmUp.map { ($0.timestamp, $0.message) })")

        // A rise, then a fall: not growing.
        let fell = try #require(leakAlerts { $0 < 900 ? 100 + $0 * 20 / 60 : max(100, 400 - ($0 - 900) * 30 / 60) }.last)
        #expect(fell.message == "RESOLVED: memory leak no longer suspected: resident memory not growing over the window", "\(fell.message)")
    }
}

@Suite("Median by selection", .offCooperativePool)
struct MedianSelectionTests {
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


@Suite("Theil–Sen fit against a plain reference", .offCooperativePool)
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
        var sum = 0.0
        var sumT = 0.0
        for q in p {
            sum += q.v
            sumT += q.t
        }
        let mean = sum / Double(p.count)
        let meanT = sumT / Double(p.count)
        var residual = 0.0
        var total = 0.0
        var spread = 0.0
        for q in p {
            let r = q.v - (intercept + slope * q.t)
            residual += r * r
            total += (q.v - mean) * (q.v - mean)
            spread += (q.t - meanT) * (q.t - meanT)
        }
        // The slope in standard errors, written out: slope / sqrt((residual / (n - 2)) / spread).
        let significance: Double =
            p.count <= 2 || spread <= 0 || slope == 0 ? 0 : residual == 0 ? (slope > 0 ? .infinity : -.infinity)
            : slope * (spread / (residual / Double(p.count - 2))).squareRoot()
        // The parabola through what the line leaves, written out the same way.
        let residuals = p.map { $0.v - (intercept + slope * $0.t) }
        let weights = p.map { ($0.t - meanT) * ($0.t - meanT) }
        var sumR = 0.0
        var sumW = 0.0
        for i in p.indices {
            sumR += residuals[i]
            sumW += weights[i]
        }
        let (meanR, meanW) = (sumR / Double(p.count), sumW / Double(p.count))
        var rw = 0.0
        var ww = 0.0
        var rr = 0.0
        for i in p.indices {
            let (r, w) = (residuals[i] - meanR, weights[i] - meanW)
            rw += r * w
            ww += w * w
            rr += r * r
        }
        var curvature = (0.0, 0.0)
        if p.count > 3, ww > 0, rw / ww != 0 {
            let c = rw / ww
            let left = max(0, rr - c * c * ww) / Double(p.count - 3)
            curvature = left > 0 ? (2 * c, c * (ww / left).squareRoot()) : (2 * c, c > 0 ? .infinity : -.infinity)
        }
        // The noise, written out: the residuals' and the neighbours' differences' variance, the smaller.
        var noise = 0.0
        if p.count > 2 {
            let steps = zip(p.dropFirst(), p).map { $0.v - $1.v }
            let meanStep = (last.v - first.v) / Double(p.count - 1)
            let fromSteps = steps.map { ($0 - meanStep) * ($0 - meanStep) }.reduce(0, +) / 2
            noise = (min(residual, fromSteps) / Double(p.count - 2)).squareRoot()
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
            explained: total == 0 ? 0 : max(0, 1 - residual / total), significance: significance, curvature: curvature.0,
            curvatureSignificance: curvature.1, noise: noise, scatter: p.count > 2 ? (residual / Double(p.count - 2)).squareRoot() : 0, count: p.count,
            quarterMedians: quarters)
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
            #expect(fit.significance == expected.significance, "round \(round)")
            #expect(fit.curvature == expected.curvature && fit.curvatureSignificance == expected.curvatureSignificance, "round \(round)")
            #expect(fit.noise == expected.noise && fit.scatter == expected.scatter, "round \(round)")
            #expect(fit.start == expected.start && fit.end == expected.end, "round \(round)")
            let same = zip(fit.quarterMedians, expected.quarterMedians).allSatisfy { $0 == $1 || ($0.isNaN && $1.isNaN) }
            #expect(same && fit.quarterMedians.count == 4, "round \(round): \(fit.quarterMedians) vs \(expected.quarterMedians)")
        }
        #expect(compared > 300)
    }
}


@Suite("Sliding Theil–Sen fit", .offCooperativePool)
struct SlidingGrowthFitTests {
    static func same(_ a: GrowthFit?, _ b: GrowthFit?) -> Bool {
        guard let a, let b else { return a == nil && b == nil }
        let quarters = a.quarterMedians.count == b.quarterMedians.count
            && zip(a.quarterMedians, b.quarterMedians).allSatisfy { $0 == $1 || ($0.isNaN && $1.isNaN) }
        return a.slope == b.slope && a.valueAtEnd == b.valueAtEnd && a.valueAtStart == b.valueAtStart && a.start == b.start
            && a.end == b.end && a.explained == b.explained && a.count == b.count && quarters
    }

    /// Seeded runs of points settling, leaving at either end and a newest point changing, on
    /// lines, noise, steps and constant values (many equal slopes): after every change the
    /// sliding fit equals the batch fit of the same points, to the bit.
    @Test func equalsTheBatchFitAfterEveryChange() {
        var generator = SeededGenerator(state: 20261127_3)
        var compared = 0
        for round in 0..<60 {
            var sliding = SlidingGrowthFit()
            var points: [(t: Double, v: Double)] = []
            var t = 0.0
            let slope = Double.random(in: -3000...8000, using: &generator)
            let noise = [0.0, 50, 1_000_000][round % 3]
            func value(_ t: Double) -> Double {
                // Every fifth run is constant, or steps between two levels: many slopes are equal.
                if round % 5 == 0 { return 100_000_000 }
                if round % 5 == 1 { return t.truncatingRemainder(dividingBy: 40) < 20 ? 100_000_000 : 120_000_000 }
                return 100_000_000 + slope * t + Double.random(in: -noise...noise + 0.001, using: &generator)
            }
            for step in 0..<300 {
                t += Double.random(in: 0.2...6, using: &generator)
                let newest = (t: t, v: value(t))
                #expect(Self.same(sliding.fit(newest: newest), GrowthFit.fit(points + [newest])), "round \(round), \(points.count) points")
                #expect(Self.same(sliding.fit(newest: nil), GrowthFit.fit(points)), "round \(round), \(points.count) points")
                compared += 2
                switch Int.random(in: 0..<10, using: &generator) {
                case 0..<5 where points.count < GrowthFit.maximumPoints - 1:
                    sliding.append(newest)
                    points.append(newest)
                case 5..<8 where !points.isEmpty:
                    sliding.removeFirst()
                    points.removeFirst()
                case 8 where !points.isEmpty:
                    sliding.removeLast()
                    points.removeLast()
                    t = points.last?.t ?? t
                default:
                    sliding.append(newest)
                    points.append(newest)
                    if points.count > GrowthFit.maximumPoints - 1 {
                        sliding.removeFirst()
                        points.removeFirst()
                    }
                }
                #expect(sliding.count == points.count)
                // The kept slopes themselves, now and then (quadratic to recompute).
                guard step % 20 == 0 else { continue }
                var all: [Double] = []
                for i in 0..<points.count { for j in (i + 1)..<points.count { all.append((points[j].v - points[i].v) / (points[j].t - points[i].t)) } }
                #expect(sliding.slopes == all.sorted(), "round \(round) slopes")
            }
        }
        #expect(compared == 36_000)
    }

    /// Points that do not come later than the newest settled one, or are not finite, are not taken.
    @Test func refusesPointsOutOfOrder() {
        var sliding = SlidingGrowthFit()
        sliding.append((10, 1))
        sliding.append((10, 2))
        sliding.append((5, 3))
        sliding.append((.nan, 3))
        sliding.append((20, .infinity))
        #expect(sliding.count == 1)
        #expect(sliding.fit(newest: (10, 5)) == nil)
        sliding.append((20, 2))
        #expect(Self.same(sliding.fit(newest: (30, 3)), GrowthFit.fit([(10, 1), (20, 2), (30, 3)])))
        #expect(Self.same(sliding.fit(newest: (20, 3)), nil))
    }

    /// A wall clock that steps back 50 s, then forward 400 s: the points after the new time are
    /// dropped, times stay in order, and the kept slopes stay those of the points kept.
    @Test func aClockStepKeepsTheFitConsistent() throws {
        var config = MonitorConfiguration()
        config.experimental.predictiveAlerting = false
        var tracker = GrowthTracker(configuration: config)
        var t = 1_800_000_000.0
        for i in 0..<600 {
            t += i == 200 ? -50 : i == 400 ? 400 : 1
            let rss = UInt64(300_000_000 + 20_000 * Double(i) + Double(i % 7) * 4096)
            let sample = Sample.fixture(timestamp: t, residentBytes: rss)
            let rate = tracker.observe(sample, level: .healthy).0.rateBytesPerSecond
            let points = tracker.basisPoints
            #expect(zip(points, points.dropFirst()).allSatisfy { $0.t < $1.t } && points.last?.t == t, "check \(i)")
            #expect(points.allSatisfy { $0.t >= t - 300 }, "check \(i)")
            #expect(rate == GrowthFit.fit(points)?.slope, "check \(i)")
        }
    }

    /// The tracker fits the last check of each slot of window/63 seconds (anchored at multiples
    /// of it) that has ended within the window, and the newest check: checked against a batch
    /// fit of those points, chosen here from the whole series, at every check of irregular checks.
    @Test func trackerFitsTheLastCheckOfEachSlot() throws {
        var config = MonitorConfiguration()
        config.experimental.predictiveAlerting = false
        config.monitoring.leakDetection.monitoringWindow = 60
        var tracker = GrowthTracker(configuration: config)
        var generator = SeededGenerator(state: 20261127_4)
        var all: [(t: Double, v: Double)] = []
        var t = 1_800_000_000.0
        let width = 60.0 / 63
        for _ in 0..<1500 {
            t += Double.random(in: 0.05...2.5, using: &generator)
            let rss = UInt64(200_000_000 + 30_000 * (t - 1_800_000_000) + Double.random(in: 0...2_000_000, using: &generator))
            all.append((t, Double(rss)))
            let sample = Sample.fixture(timestamp: t, residentBytes: rss)
            let rate = tracker.observe(sample, level: .healthy).0.rateBytesPerSecond
            // The expected points: per ended slot within the window, its last check; then this one.
            var expected: [(t: Double, v: Double)] = []
            for (i, p) in all.enumerated().dropLast() where p.t >= t - 60 {
                let slot = (p.t / width).rounded(.down)
                let next = all[i + 1]
                if (next.t / width).rounded(.down) != slot { expected.append(p) }
            }
            if expected.count > 63 { expected.removeFirst(expected.count - 63) }
            expected.append((t, Double(rss)))
            #expect(rate == GrowthFit.fit(expected)?.slope, "at \(t): \(expected.count) points")
            #expect(tracker.pointCount == expected.count)
        }
    }
}
