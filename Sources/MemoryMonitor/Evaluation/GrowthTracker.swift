/// Follows the target's memory over `monitoring_window`: the growth rate, leak episodes
/// (`LeakRule`) and predicted threshold crossings. A pure value fed one sample per check.
public struct GrowthTracker: Sendable {
    /// What one check's analysis found, for metrics and the health API.
    public struct Analysis: Sendable, Equatable {
        /// "anonymous" (RssAnon, where the kernel reports it) or "resident": what the leak rule watches.
        public var basis: String
        /// Growth of `basis`, bytes per second; nil until enough points.
        public var rateBytesPerSecond: Double?
        /// True while a leak episode is in progress.
        public var leaking: Bool
        /// Seconds until RSS reaches each `process_memory` threshold (0 when above); a level is
        /// absent when RSS is not growing.
        public var secondsToThreshold: [Severity: Double]
        /// Seconds until memory in use reaches the effective limit; nil when not growing or unknown.
        public var secondsToLimit: Double?
        /// While a `memory_trend` alert is open: what it predicts the crossing of (`warning`,
        /// `critical`, `emergency` or `limit`) and the seconds left of the time it said. Unlike
        /// `secondsToThreshold`, which every growing fit gives, only a trusted fit opens it.
        public var trend: Trend?

        /// An open trend alert's crossing and the seconds left of its time.
        public struct Trend: Sendable, Equatable {
            public var crossing: String
            public var seconds: Double
        }
    }

    /// What changed this check.
    public enum Event: Sendable, Equatable {
        case leakStarted(rateBytesPerSecond: Double, windowGrowth: Double)
        /// The growth now and the growth the episode was detected with, bytes per second.
        case leakEnded(rateBytesPerSecond: Double, detectedRate: Double)
        case trendStarted(message: String, seconds: Double)
        /// The predicted time moved by more than a quarter from what the open trend alert said.
        case trendUpdated(message: String, seconds: Double)
        case trendEnded(message: String)
    }

    struct Point: Sendable {
        var t: Double
        var basis: Double
        var resident: Double?
        var used: Double?
        var limit: Double?
    }

    let rule: LeakRule
    let leakDetection: Bool
    let predictive: Bool
    let predictionWindow: Double
    let trendThreshold: Double
    let thresholds: ThresholdPolicy.Bounds
    /// One point per slot of `slotWidth` seconds, anchored at multiples of it, oldest first: the
    /// last check of each slot that has ended, within the window.
    private var settled: [Point] = []
    /// The newest check: replaced at every check until its slot ends, then settled.
    private var newest: Point?
    /// The check before the newest (whether or not it settled).
    private var previousCheck: Point?
    /// The fits of each value over the settled points, kept up to date as points settle and
    /// leave the window.
    private var basisSeries = SlidingGrowthFit()
    /// The highest values of the points that left the window in the last `peakLookback` seconds:
    /// growth counts as a leak or a trend only once it passes them (a sawtooth or a cycle comes
    /// back to where it has been; a leak goes past it).
    private var basisPeaks: SlidingMaximum
    private var residentPeaks: SlidingMaximum
    /// How far back an earlier peak counts, seconds (`monitoring.leak_detection.peak_lookback_seconds`;
    /// 0: none does).
    let peakLookback: Double
    private var residentSeries = SlidingGrowthFit()
    private var usedSeries = SlidingGrowthFit()
    /// With predictive alerting: one point per slot of `longSlotWidth` (the last check of each
    /// slot that has ended) over the last `timingSpans.last` windows, for a trend alert's time
    /// when the growth has gone on along one line for longer than the window (`timingFit`).
    private var longSettled: [Point] = []
    /// The span estimates of RSS and of memory in use, computed when a trend alert's time needs
    /// them (`timingFit`).
    private var residentSpans = SpanEstimates()
    private var usedSpans = SpanEstimates()
    /// The spans longer than the window, in windows, a trend alert's time counts (with the
    /// window and its newer half).
    static let timingSpans: [Double] = [2, 4]
    var longSlotWidth: Double { rule.window * Self.timingSpans[Self.timingSpans.count - 1] / Self.slotsPerWindow }
    /// One check's predicted crossings, Unix time; nil where none was predicted.
    struct Crossings: Sendable {
        var t: Double
        var warning: Double?
        var critical: Double?
        var emergency: Double?
        var limit: Double?

        subscript(target: TrendTarget) -> Double? {
            switch target {
            case .threshold(.warning): warning
            case .threshold(.critical): critical
            case .threshold(.emergency): emergency
            case .threshold: nil
            case .limit: limit
            }
        }
    }

    /// Checks from before a restart, taken up at the first check if the target is the same process.
    private var restored: [SampleHistory.Entry] = []
    private(set) var leaking = false
    /// The size the leak episode in progress was detected at (its window's start), bytes; with
    /// `leakSlope`, what `LeakRule.hasStopped` judges its end against.
    private var leakBase = 0.0
    /// The growth the leak episode in progress was detected with, bytes per second.
    private var leakSlope = 0.0
    /// The open trend alert: its sentence, when it said the crossing would come (Unix time) and
    /// what it predicts the crossing of.
    private var trend: (text: String, crossingAt: Double, target: TrendTarget)?
    /// When the target's level was last at or above each `process_memory` level: a crossing that
    /// came within the prediction window is not predicted again (the level falls back below it
    /// under noise, by the hysteresis margin, and rises again).
    private var reachedAt: [Severity: Double] = [:]
    /// Seconds between checks, smoothed over the last few: the time to the first check that reads
    /// a threshold counts in them. The configured interval until two checks have come.
    private var checkInterval: Double
    /// With predictive alerting: the crossings the checks of the window's newer half predicted
    /// (the last check of each slot, oldest first), for how fast they move later (`recession`).
    private var crossings: [Crossings] = []
    /// `alerting.for_checks` is 1: a threshold alert fires at the first check over, so noise
    /// brings it early. With more, it needs that many consecutive checks over, which noise does
    /// not bring early in the same way: the time to a threshold is then the line's.
    private let firstCheckFires: Bool
    /// Slots per window: with the newest check, a fit has at most `GrowthFit.maximumPoints` points.
    static let slotsPerWindow = Double(GrowthFit.maximumPoints - 1)
    var slotWidth: Double { rule.window / Self.slotsPerWindow }

    /// Points kept now (for tests).
    var pointCount: Int { settled.count + (newest == nil ? 0 : 1) }

    /// The points the basis fit uses, oldest first (for tests).
    var basisPoints: [(t: Double, v: Double)] { (settled + (newest.map { [$0] } ?? [])).map { ($0.t, $0.basis) } }

    public init(configuration: MonitorConfiguration) {
        let l = configuration.monitoring.leakDetection
        rule = LeakRule(thresholdGrowthRate: l.thresholdGrowthRate, window: l.monitoringWindow)
        leakDetection = l.enabled
        predictive = configuration.experimental.predictiveAlerting
        predictionWindow = configuration.experimental.predictionWindow
        trendThreshold = configuration.experimental.trendThreshold
        thresholds = ThresholdPolicy(configuration.thresholds).processMB
        checkInterval = configuration.monitoring.checkInterval
        firstCheckFires = configuration.alerting.forChecks <= 1
        peakLookback = l.peakLookbackSeconds
        basisPeaks = SlidingMaximum(lookback: peakLookback)
        residentPeaks = basisPeaks
    }

    /// What a trend alert predicts the crossing of.
    enum TrendTarget: Sendable, Equatable {
        /// A `process_memory` threshold, by RSS.
        case threshold(Severity)
        /// The effective memory limit, by memory in use.
        case limit

        /// The `crossing` label: the level's name, or `limit`.
        var crossing: String {
            switch self {
            case .threshold(let severity): severity.description
            case .limit: "limit"
            }
        }
    }

    /// Keeps the history read back from the state directory (or the monitor's own, when the
    /// growth settings change); the first check takes up the points of the last window, and the
    /// levels of the `peakLookback` before it, if they belong to the same process (pid and start time).
    package mutating func restore(_ entries: [SampleHistory.Entry]) {
        restored = entries
    }

    private mutating func takeUpRestored(_ process: Sample.TargetProcess, now: Double) {
        defer { restored = [] }
        guard let last = restored.last, last.pid == process.pid, last.startTicks != nil, last.startTicks == process.startTicks else { return }
        let mib = 1_048_576.0
        let points = restored.compactMap { e -> Point? in
            guard e.pid == process.pid, e.startTicks == process.startTicks, let rss = e.rssMB, e.timestamp >= now - rule.window - peakLookback else { return nil }
            return Point(t: e.timestamp, basis: (e.anonymousMB ?? rss) * mib, resident: rss * mib, used: e.usedBytes, limit: e.limitBytes)
        }
        // Before the window, the last point of each slot, as the window's points are when they leave it.
        let earlier = points.prefix { $0.t < now - rule.window }
        let leaving = earlier.enumerated().filter { i, p in i == earlier.count - 1 || slot(earlier[i + 1].t) != slot(p.t) }.map(\.element)
        let following = leaving + points.dropFirst(earlier.count)
        for (i, p) in leaving.enumerated() { rememberPeak(p, after: following.dropFirst(i + 1), now: now) }
        for p in points.dropFirst(earlier.count) { add(p) }
    }

    /// Forgets every point: a new target is a new series.
    package mutating func reset() -> [Event] {
        var events: [Event] = []
        if leaking { events.append(.leakEnded(rateBytesPerSecond: 0, detectedRate: 0)) }
        if let trend { events.append(.trendEnded(message: "RESOLVED: \(trend.text) (the target changed)")) }
        settled = []
        newest = nil
        previousCheck = nil
        longSettled = []
        (residentSpans, usedSpans) = (SpanEstimates(), SpanEstimates())
        basisSeries.removeAll()
        residentSeries.removeAll()
        usedSeries.removeAll()
        leaking = false
        trend = nil
        reachedAt = [:]
        crossings = []
        basisPeaks = SlidingMaximum(lookback: peakLookback)
        residentPeaks = basisPeaks
        return events
    }

    /// Feeds one sample; returns the analysis and what changed. `level` is the current
    /// `process_memory` level: the trend looks at the next one up.
    public mutating func observe(_ sample: Sample, level: Severity) -> (Analysis, [Event]) {
        guard let process = sample.process, let resident = process.status.residentBytes else {
            return (Analysis(basis: "resident", rateBytesPerSecond: nil, leaking: leaking, secondsToThreshold: [:], secondsToLimit: nil), [])
        }
        let anonymous = process.status.anonymousBytes
        if !restored.isEmpty { takeUpRestored(process, now: sample.timestamp) }
        if let previous = newest?.t, sample.timestamp > previous {
            checkInterval = pointCount < 2 ? sample.timestamp - previous : 0.8 * checkInterval + 0.2 * (sample.timestamp - previous)
        }
        let point = Point(
            t: sample.timestamp, basis: Double(anonymous ?? resident), resident: Double(resident), used: sample.limit.map { Double($0.usedBytes) },
            limit: sample.limit.map { Double($0.limitBytes) })
        add(point)

        var events: [Event] = []
        let basisFit = basisSeries.fit(newest: (point.t, point.basis))
        if leakDetection, let fit = basisFit {
            if !leaking && rule.isLeak(fit, newerHalf: { newerHalf(\.basis, of: fit) }) && passesEarlierPeak(fit, basisPeaks, now: point.t) {
                leaking = true
                (leakBase, leakSlope) = (fit.valueAtStart, fit.slope)
                events.append(.leakStarted(rateBytesPerSecond: fit.slope, windowGrowth: rule.windowGrowth(fit)))
            } else if leaking && rule.hasStopped(fit, base: leakBase, detectedSlope: leakSlope) {
                leaking = false
                events.append(.leakEnded(rateBytesPerSecond: fit.slope, detectedRate: leakSlope))
            }
        }

        // Where the kernel gives no RssAnon the basis is RSS itself: one fit serves both.
        let residentFit = point.resident == point.basis && settled.allSatisfy({ $0.resident == $0.basis })
            ? basisFit : residentSeries.fit(newest: point.resident.map { (point.t, $0) })
        var toThreshold: [Severity: Double] = .init(minimumCapacity: Severity.alerting.count)
        if let fit = residentFit.map({ firstCheckFires ? $0 : $0.withoutNoise }), fit.slope > 0 {
            var lead: Double?
            for severity in Severity.alerting {
                if let bound = thresholds.bound(for: severity), let seconds = fit.secondsUntilFirstCheck(reaching: bound * 1_048_576, interval: checkInterval, lead: &lead) {
                    toThreshold[severity] = seconds
                }
            }
        }
        var toLimit: Double?
        let usedFit = usedSeries.fit(newest: point.used.map { (point.t, $0) })
        if let fit = usedFit, fit.slope > 0, let limit = point.limit { toLimit = fit.secondsUntilFirstCheck(reaching: limit, interval: checkInterval) }

        for severity in Severity.alerting where severity <= level { reachedAt[severity] = point.t }
        if predictive {
            noteCrossings(at: point.t, toThreshold: toThreshold, toLimit: toLimit)
            let predicted = prediction(level: level, residentFit: residentFit, toThreshold: toThreshold, usedFit: usedFit, toLimit: toLimit)
            if let (text, crossingAt, open) = trend {
                let said = crossingAt - point.t
                if let predicted, predicted.target != open || abs(predicted.seconds - said) > max(0.25 * said, Self.leastRefresh) {
                    // Another crossing, or the time the open alert gave is off by more than a
                    // quarter and a minute: say the new one.
                    openTrend(predicted, now: point.t)
                    events.append(.trendUpdated(message: "WARNING: \(predicted.text) (updated)", seconds: predicted.seconds))
                } else if predicted == nil, mayStillCross(open, level: level, residentFit: residentFit, usedFit: usedFit) {
                    // Not a fit to say a time from, but the growth goes on: the alert stands. Once
                    // the time it said has passed, it says this check's time, or resolves when
                    // that is past the prediction window ("crosses in about 27 min" is not what a
                    // trend alert says).
                    if point.t >= crossingAt, let again = estimate(open, residentFit: residentFit, usedFit: usedFit, toThreshold: toThreshold, toLimit: toLimit) {
                        if again.seconds <= predictionWindow {
                            openTrend(again, now: point.t)
                            events.append(.trendUpdated(message: "WARNING: \(again.text) (updated)", seconds: again.seconds))
                        } else {
                            events.append(endTrend(open, said: text, level: level))
                        }
                    }
                } else if predicted == nil {
                    events.append(endTrend(open, said: text, level: level))
                }
            } else if let predicted {
                openTrend(predicted, now: point.t)
                events.append(.trendStarted(message: "WARNING: \(predicted.text)", seconds: predicted.seconds))
            }
        }
        let open = trend.map { trend in
            Analysis.Trend(crossing: trend.target.crossing, seconds: max(0, trend.crossingAt - point.t))
        }
        let analysis = Analysis(
            basis: anonymous == nil ? "resident" : "anonymous", rateBytesPerSecond: basisFit?.slope, leaking: leaking,
            secondsToThreshold: toThreshold, secondsToLimit: toLimit, trend: open)
        return (analysis, events)
    }

    /// The fit of `value` over the points of `fit`'s newer half, the newest check with them.
    private func newerHalf(_ value: KeyPath<Point, Double>, of fit: GrowthFit) -> GrowthFit? {
        let middle = (fit.start + fit.end) / 2
        var points = settled.filter { $0.t >= middle }.map { (t: $0.t, v: $0[keyPath: value]) }
        if let newest { points.append((newest.t, newest[keyPath: value])) }
        return GrowthFit.fit(points)
    }

    /// Takes a check as the newest point. The one it replaces settles if its slot has ended;
    /// settled points older than the window leave it. A clock that stepped back drops the points
    /// after the new time.
    private mutating func add(_ point: Point) {
        while let last = settled.last, last.t >= point.t {
            settled.removeLast()
            drop(last, oldest: false)
            (residentSpans.window, usedSpans.window) = (nil, nil)
        }
        while let last = longSettled.last, last.t >= point.t {
            longSettled.removeLast()
            (residentSpans.long, usedSpans.long) = (nil, nil)
        }
        if let previous = newest, previous.t < point.t, slot(previous.t) != slot(point.t) {
            (residentSpans.window, usedSpans.window) = (nil, nil)
            settled.append(previous)
            basisSeries.append((previous.t, previous.basis))
            if let v = previous.resident { residentSeries.append((previous.t, v)) }
            if let v = previous.used { usedSeries.append((previous.t, v)) }
        }
        if predictive, let previous = newest, previous.t < point.t, slot(previous.t, width: longSlotWidth) != slot(point.t, width: longSlotWidth) {
            longSettled.append(previous)
            (residentSpans.long, usedSpans.long) = (nil, nil)
            let longCutoff = point.t - longSlotWidth * Self.slotsPerWindow
            if let first = longSettled.firstIndex(where: { $0.t >= longCutoff }), first > 0 { longSettled.removeFirst(first) }
        }
        previousCheck = newest
        newest = point
        let cutoff = point.t - rule.window
        // The count bound guards against rounding at a slot's edge: never more than the slots of a window.
        while let first = settled.first, first.t < cutoff || settled.count > Int(Self.slotsPerWindow) {
            settled.removeFirst()
            drop(first, oldest: true)
            rememberPeak(first, after: settled, now: point.t)
        }
    }

    /// Notes a point that left the window among the earlier peaks, at where the series was,
    /// robustly: the median of it and the four points after it, so that one high sample of a
    /// noisy series does not count as a peak to pass.
    private mutating func rememberPeak(_ point: Point, after: some Collection<Point>, now: Double) {
        let after = after.prefix(4)
        basisPeaks.push(t: point.t, value: Self.level(point.basis, after.map(\.basis)), now: now)
        if let v = point.resident { residentPeaks.push(t: point.t, value: Self.level(v, after.compactMap(\.resident)), now: now) }
    }

    /// Removes `point` from each series that holds it, at its old or its new end.
    private mutating func drop(_ point: Point, oldest: Bool) {
        for path in [\Self.basisSeries, \Self.residentSeries, \Self.usedSeries] {
            if oldest, self[keyPath: path].firstTime == point.t { self[keyPath: path].removeFirst() }
            if !oldest, self[keyPath: path].lastTime == point.t { self[keyPath: path].removeLast() }
        }
    }

    private func slot(_ t: Double, width: Double? = nil) -> Double { (t / (width ?? slotWidth)).rounded(.down) }

    typealias Predicted = (seconds: Double, text: String, target: TrendTarget)

    /// The least change of the time to a crossing that refreshes an open trend alert, besides a
    /// quarter of it: "in about 40 s" against "in about 20 s" is not news to anyone paged.
    static let leastRefresh = 60.0

    private mutating func openTrend(_ predicted: Predicted, now: Double) {
        trend = (predicted.text, now + predicted.seconds, predicted.target)
    }

    /// Closes the open trend alert, which said `said`: its crossing came, or none is predicted
    /// within the prediction window any more.
    private mutating func endTrend(_ target: TrendTarget, said: String, level: Severity) -> Event {
        trend = nil
        return .trendEnded(message: crossed(target, level: level)
            ? "RESOLVED: the crossing came (was: \(said))"
            : "RESOLVED: no crossing predicted within \(Self.duration(predictionWindow)) any more (was: \(said))")
    }

    /// The earliest crossing within the prediction window with a trend above `trend_threshold`,
    /// from a fit trusted to extrapolate, as a sentence, or nil.
    private mutating func prediction(level: Severity, residentFit: GrowthFit?, toThreshold: [Severity: Double], usedFit: GrowthFit?, toLimit: Double?)
        -> Predicted?
    {
        var best: Predicted?
        if let fit = residentFit, trustworthy(fit), fit.valueAtEnd > 0, passesEarlierPeak(fit, residentPeaks, now: newest?.t ?? fit.end), fit.slope * predictionWindow / fit.valueAtEnd >= trendThreshold,
            let next = Severity.alerting.first(where: { $0 > level }), let seconds = toThreshold[next], seconds > 0, seconds <= predictionWindow,
            reachedAt[next].map({ (newest?.t ?? fit.end) - $0 > predictionWindow }) ?? true,
            let bound = thresholds.bound(for: next), surelyWithin(firstCheckFires ? fit : fit.withoutNoise, bound * 1_048_576),
            comesAsItRecedes(.threshold(next), within: seconds)
        {
            best = estimate(.threshold(next), residentFit: fit, usedFit: nil, toThreshold: toThreshold, toLimit: nil).flatMap { $0.seconds <= predictionWindow ? $0 : nil }
        }
        if let fit = usedFit, trustworthy(fit), fit.valueAtEnd > 0, fit.slope * predictionWindow / fit.valueAtEnd >= trendThreshold,
            let seconds = toLimit, seconds > 0, seconds <= predictionWindow, seconds < (best?.seconds ?? .infinity), let limit = newest?.limit,
            surelyWithin(fit, limit), comesAsItRecedes(.limit, within: seconds)
        {
            best = estimate(.limit, residentFit: nil, usedFit: fit, toThreshold: [:], toLimit: toLimit).flatMap { $0.seconds <= predictionWindow ? $0 : nil } ?? best
        }
        return best
    }

    /// Notes this check's predicted crossings (the last check of each slot stays), and forgets
    /// those from before the window's newer half or, after the clock stepped back, after `t`.
    /// A line already at a threshold (0 s) predicts nothing: a level the series had reached and
    /// fell back from is not a crossing that moved by a second a second.
    private mutating func noteCrossings(at t: Double, toThreshold: [Severity: Double], toLimit: Double?) {
        while let last = crossings.last, last.t >= t { crossings.removeLast() }
        func at(_ seconds: Double?) -> Double? { seconds.flatMap { $0 > 0 ? t + $0 : nil } }
        let entry = Crossings(
            t: t, warning: at(toThreshold[.warning]), critical: at(toThreshold[.critical]), emergency: at(toThreshold[.emergency]),
            limit: at(toLimit))
        if let last = crossings.last, slot(last.t) == slot(t) {
            crossings[crossings.count - 1] = entry
        } else {
            crossings.append(entry)
        }
        let cutoff = t - rule.window / 2
        if let first = crossings.firstIndex(where: { $0.t >= cutoff }), first > 0 { crossings.removeFirst(first) }
    }

    /// How fast the crossing of `target` that the checks of the window's newer half predicted
    /// moves later, seconds per second: the robust slope of those predicted times over the
    /// checks' times. About 0 on a line; a rise that slows pushes its crossing later at every
    /// check (a cache warming up toward a level predicts "in about 10 min" for a quarter of an
    /// hour); one that quickens brings it nearer. Nil with fewer than three predictions spanning
    /// a quarter of the window.
    func recession(_ target: TrendTarget) -> Double? {
        var points: [(t: Double, v: Double)] = []
        points.reserveCapacity(crossings.count)
        for c in crossings { if let at = c[target] { points.append((c.t, at)) } }
        guard points.count >= 3, let first = points.first, let last = points.last, last.t - first.t >= rule.window / 4 else { return nil }
        return GrowthFit.fit(points)?.slope
    }

    /// Whether a crossing predicted in `seconds` still comes within the prediction window as it
    /// recedes: at a recession of r seconds per second the time left shrinks by 1 − r a second,
    /// so it comes after seconds ÷ (1 − r), and never at r ≥ 1. No recession known, or a crossing
    /// coming nearer: as predicted.
    private func comesAsItRecedes(_ target: TrendTarget, within seconds: Double) -> Bool {
        guard let r = recession(target), r > 0 else { return true }
        return r < 1 && seconds / (1 - r) <= predictionWindow
    }

    /// Whether the crossing comes within the prediction window even at one standard error below
    /// the fitted slope. A noisy series' slope is overestimated now and then; an alert from such
    /// a check said "in about 10 min" and resolved a minute later.
    private func surelyWithin(_ fit: GrowthFit, _ bound: Double) -> Bool {
        guard let seconds = fit.pivoted(slope: fit.slope - fit.slopeError).secondsUntilFirstCheck(reaching: bound, interval: checkInterval) else { return false }
        return seconds <= predictionWindow
    }

    /// The sentence of a trend alert for `target` with this check's time to the crossing, read
    /// from the spans weighed together (`timingFit`), or the window's fit when there are none.
    private mutating func estimate(_ target: TrendTarget, residentFit: GrowthFit?, usedFit: GrowthFit?, toThreshold: [Severity: Double], toLimit: Double?) -> Predicted? {
        switch target {
        case .threshold(let severity):
            guard let window = residentFit, let bound = thresholds.bound(for: severity) else { return nil }
            let weighed = timingFit(target, window: window)?.fit
            let fit = weighed ?? window
            let passage = firstCheckFires ? fit : fit.withoutNoise
            guard let seconds = weighed == nil ? toThreshold[severity] : passage.secondsUntilFirstCheck(reaching: bound * 1_048_576, interval: checkInterval),
                seconds > 0
            else { return nil }
            return (seconds, "RSS \(Self.bytes(fit.valueAtEnd)) growing \(Self.bytes(fit.slope * 60))/min, crosses \(severity) (\(Self.bytes(bound * 1_048_576))) in about \(Self.duration(seconds))", target)
        case .limit:
            guard let window = usedFit, let limit = newest?.limit else { return nil }
            let weighed = timingFit(target, window: window)?.fit
            let fit = weighed ?? window
            guard let seconds = weighed == nil ? toLimit : fit.secondsUntilFirstCheck(reaching: limit, interval: checkInterval), seconds > 0 else { return nil }
            return (seconds, "memory in use \(Self.bytes(fit.valueAtEnd)) growing \(Self.bytes(fit.slope * 60))/min, reaches the limit (\(Self.bytes(limit))) in about \(Self.duration(seconds))", target)
        }
    }

    /// A slope a trend alert's time may count: the fit over a span, and the slope's mean
    /// squared error there, its variance plus the squared bias the span's halves show.
    struct SlopeEstimate: Sendable {
        var fit: GrowthFit
        var error: Double
    }

    /// One series' span estimates, each kept until a point of its kind settles: the longer
    /// spans' (`longEstimates`) and the window's newer half with the window's bias
    /// (`windowEstimates`).
    struct SpanEstimates: Sendable {
        var long: [SlopeEstimate]?
        var window: (newer: SlopeEstimate?, bias: Double)?
    }

    /// The (time, value) points of `points` that have `value`, oldest first.
    static func series(_ points: [Point], _ value: KeyPath<Point, Double?>) -> [(t: Double, v: Double)] {
        points.compactMap { p in p[keyPath: value].map { (t: p.t, v: $0) } }
    }

    /// The window's fit with the slope and the value at the newest check taken together with
    /// those over other spans, each weighed by the inverse of its slope's mean squared error;
    /// nil when there is no other span (the window's fit is then the one to read). The spans:
    /// the window's newer half, the window, and two and four windows back. One window's slope
    /// under noise is uncertain: with 8 MiB of noise on a 5 MiB/min leak, about a fifth of
    /// itself over 5 minutes; twice the span has about a third of that error. But a longer span
    /// may hold a change the shorter ones do not (a leak that started within it, a step, a
    /// leak that slowed), which makes its slope wrong however certain: each span's error counts
    /// the square of the difference between its older and its newer half's slopes beyond what
    /// chance gives (`bias`). On one line the halves agree and the longer spans weigh most;
    /// across a change they differ and the newest span weighs most (docs/leak-detection.md,
    /// "The slope over several spans").
    private mutating func timingFit(_ target: TrendTarget, window fit: GrowthFit) -> (fit: GrowthFit, slopeError: Double)? {
        let (value, spans): (KeyPath<Point, Double?>, WritableKeyPath<Self, SpanEstimates>) = switch target {
        case .threshold: (\.resident, \.residentSpans)
        case .limit: (\.used, \.usedSpans)
        }
        if self[keyPath: spans].long == nil { self[keyPath: spans].long = longEstimates(value) }
        if self[keyPath: spans].window == nil { self[keyPath: spans].window = windowEstimates(value) }
        let (long, short) = (self[keyPath: spans].long ?? [], self[keyPath: spans].window ?? (nil, 0))
        var estimates = long
        if let newer = short.newer { estimates.append(newer) }
        guard !estimates.isEmpty, fit.slope > 0 else { return nil }
        estimates.append(SlopeEstimate(fit: fit, error: fit.slopeError * fit.slopeError + short.bias))
        // An exact line has no error: a floor of a thousandth of the slope keeps the weights finite.
        let floor = fit.slope * fit.slope * 1e-6
        let now = fit.end
        var (weights, slope, level) = (0.0, 0.0, 0.0)
        for estimate in estimates {
            let weight = 1 / max(estimate.error, floor)
            weights += weight
            slope += weight * estimate.fit.slope
            level += weight * estimate.fit.extended(to: now).valueAtEnd
        }
        // The weighed slope's standard error: the estimates overlap (the window is part of the
        // longer spans), so not that of independent ones (1 / Σ weights) but the harmonic mean of
        // their mean squared errors.
        return (fit.through(value: level / weights, slope: slope / weights), (Double(estimates.count) / weights).squareRoot())
    }

    /// The window's newer half (settled points) with its slope's variance, and the squared bias
    /// of the window's slope its halves show.
    private func windowEstimates(_ value: KeyPath<Point, Double?>) -> (newer: SlopeEstimate?, bias: Double) {
        let points = Self.series(settled, value)
        guard let (older, newer) = Self.halves(points) else { return (nil, 0) }
        return (SlopeEstimate(fit: newer, error: newer.slopeError * newer.slopeError), Self.bias(older, newer))
    }

    /// For each of `timingSpans` windows back from the newest long point, up to the first the
    /// points do not cover for three quarters: the fit over the span with its slope's variance
    /// plus the squared bias its halves show.
    private func longEstimates(_ value: KeyPath<Point, Double?>) -> [SlopeEstimate] {
        guard let last = longSettled.last?.t else { return [] }
        var estimates: [SlopeEstimate] = []
        for span in Self.timingSpans {
            let seconds = span * rule.window
            let points = Self.series(longSettled.filter { $0.t >= last - seconds }, value)
            guard let fit = GrowthFit.fit(points), fit.end - fit.start >= 0.75 * seconds, let (older, newer) = Self.halves(points) else { break }
            estimates.append(SlopeEstimate(fit: fit, error: fit.slopeError * fit.slopeError + Self.bias(older, newer)))
        }
        return estimates
    }

    /// The fits of the older and the newer half in time of `points` (oldest first); nil with too few points.
    static func halves(_ points: [(t: Double, v: Double)]) -> (older: GrowthFit, newer: GrowthFit)? {
        guard let first = points.first?.t, let last = points.last?.t else { return nil }
        let middle = (first + last) / 2
        let split = points.firstIndex { $0.t > middle } ?? points.count
        let newerStart = split > 0 && points[split - 1].t == middle ? split - 1 : split
        guard let older = GrowthFit.fit(Array(points[..<split])), let newer = GrowthFit.fit(Array(points[newerStart...])) else { return nil }
        return (older, newer)
    }

    /// What the difference between two halves' slopes shows beyond chance: its square less the
    /// two slopes' variances, at least 0. An estimate of the squared bias of the whole span's
    /// slope as a measure of the newer half's.
    static func bias(_ older: GrowthFit, _ newer: GrowthFit) -> Double {
        let change = older.slope - newer.slope
        return max(0, change * change - older.slopeError * older.slopeError - newer.slopeError * newer.slopeError)
    }

    /// Whether an open trend alert stands on a check that gives no trusted prediction: its
    /// crossing has not come, and the growth may still bring it within the prediction window at
    /// no less than `trend_threshold`, taking the slope two standard errors up. Under noise one
    /// check's fit is trusted and the next is not; without this, a noisy leak's trend alert
    /// resolved and fired again every few checks. The slope is the one the alert's time is read
    /// from (the spans weighed together, `timingFit`), or the window's when there are no spans.
    /// A step to flat or growth that stopped ends it (the newer spans' slopes flatten, and the
    /// halves' disagreement takes the weight from the longer ones), and so does a fall: the
    /// newest two checks more than three times the residuals' scatter below the line.
    private mutating func mayStillCross(_ target: TrendTarget, level: Severity, residentFit: GrowthFit?, usedFit: GrowthFit?) -> Bool {
        guard !crossed(target, level: level) else { return false }
        let fit: GrowthFit?
        let bound: Double?
        let value: KeyPath<Point, Double?>
        switch target {
        case .threshold(let severity):
            (fit, bound, value) = (residentFit, thresholds.bound(for: severity).map { $0 * 1_048_576 }, \.resident)
        case .limit:
            (fit, bound, value) = (usedFit, newest?.limit, \.used)
        }
        guard let fit, let bound, newest?[keyPath: value] != nil, fit.valueAtEnd > 0, fit.end - fit.start >= rule.window / 2 else { return false }
        // A fall the robust line does not follow yet (a sawtooth's tooth dropping): the newest
        // two checks are far below it, by more than three times the residuals' scatter (which
        // counts a bend the line does not follow, as a start-up ramp in the window leaves). Two,
        // not one: one sample of a noisy leak 3.5 standard deviations low ended its alert with
        // "no crossing predicted" 40 s before the crossing came.
        func fallen(_ check: Point?) -> Bool {
            guard let check, let v = check[keyPath: value] else { return false }
            return v < fit.extended(to: check.t).valueAtEnd - 3 * fit.scatter - 0.01 * fit.valueAtEnd
        }
        guard !(fallen(newest) && fallen(previousCheck)) else { return false }
        // One window's slope under noise dips now and then (the corpus's noisy leak: "no crossing
        // predicted" and the crossing came); the spans' together much less.
        let (line, slopeError) = timingFit(target, window: fit) ?? (fit, fit.slopeError)
        let upper = line.slope + 2 * slopeError
        guard upper > 0, upper * predictionWindow / line.valueAtEnd >= trendThreshold else { return false }
        let passage = if case .threshold = target, !firstCheckFires { line.withoutNoise } else { line }
        return passage.pivoted(slope: upper).secondsUntilFirstCheck(reaching: bound, interval: checkInterval).map { $0 <= predictionWindow } ?? false
    }

    /// Whether the crossing `target` names has come: the level is at or above the threshold, or
    /// memory in use at the limit.
    private func crossed(_ target: TrendTarget, level: Severity) -> Bool {
        switch target {
        case .threshold(let severity): level >= severity
        case .limit: (newest?.used).map { used in newest?.limit.map { used >= $0 } ?? false } ?? false
        }
    }

    /// Enough points on a line to extrapolate from (docs/leak-detection.md, "When a trend is
    /// trusted"): five or more spanning `leastSpan`, a line that explains 60 % of the variance, a
    /// rise that does not slow for certain (`GrowthFit.slows`), and a rise spread over the
    /// window: each quarter's median above the one before, the smallest of the three rises at
    /// least a quarter of the largest. A step puts the whole rise in one quarter; a sawtooth or a
    /// cycle shorter than the window makes a quarter fall (or rise by next to nothing).
    func trustworthy(_ fit: GrowthFit) -> Bool {
        guard fit.count >= 5, fit.explained >= 0.6, fit.end - fit.start >= leastSpan, !fit.slows else { return false }
        return Self.risesThroughout(fit.quarterMedians)
    }

    /// The least time a trusted fit spans: half the window, and half the prediction window up to
    /// nine tenths of the window (a window's points span a little less than it). Below that cap
    /// a line is not extrapolated more than twice as far as it has been seen: a cache warming up
    /// looks straight for its first few minutes, and after 150 s of one a trend alert said
    /// "crosses warning in about 10 min" of a level that never came (the sweep's warm-ups under
    /// the threshold, `scripts/alert-quality.py --sweep`).
    var leastSpan: Double { max(rule.window / 2, min(0.9 * rule.window, predictionWindow / 2)) }

    /// Whether the fit ends above every point that left the window in the last `peakLookback`
    /// seconds by at least half of what it grows in a window: a leak leaves its past behind (its
    /// points a window ago are a whole window's growth lower); a sawtooth or a cycle climbs back
    /// to where it has been.
    func passesEarlierPeak(_ fit: GrowthFit, _ peaks: SlidingMaximum, now: Double) -> Bool {
        peaks.isBelow(fit.valueAtEnd - max(0, fit.slope) * rule.window / 2, now: now)
    }

    /// The median of `value` and the points after it.
    static func level(_ value: Double, _ after: [Double]) -> Double {
        var values = after
        values.append(value)
        values.sort()
        return values.count % 2 == 1 ? values[values.count / 2] : (values[values.count / 2 - 1] + values[values.count / 2]) / 2
    }

    /// Four quarter medians, each above the one before, the least rise at least a quarter of the most.
    static func risesThroughout(_ quarters: [Double]) -> Bool {
        guard quarters.count == 4 else { return false }
        let rises = zip(quarters, quarters.dropFirst()).map { $1 - $0 }
        guard let least = rises.min(), let most = rises.max(), least > 0 else { return false }
        return least >= most / 4
    }

    /// "1.4 GB", "512.3 MB", "12.0 KB" (binary units, as the SPEC writes MB).
    static func bytes(_ value: Double) -> String {
        let units = [("GB", 1_073_741_824.0), ("MB", 1_048_576.0), ("KB", 1024.0)]
        for (name, size) in units where abs(value) >= size { return "\(AlertEvaluator.format(value / size)) \(name)" }
        return "\(AlertEvaluator.format(value)) B"
    }

    /// "5 min", "40 s", "2 h".
    static func duration(_ seconds: Double) -> String {
        guard seconds.isFinite, seconds < 1e15 else { return seconds.isNaN ? "an unknown time" : "ever" }
        if seconds >= 5400 { return "\(Int((seconds / 3600).rounded())) h" }
        if seconds >= 90 { return "\(Int((seconds / 60).rounded())) min" }
        return "\(Int(seconds.rounded())) s"
    }
}

/// The maximum of the values pushed in a trailing time span (`lookback` seconds): a monotonic
/// queue (each value is pushed and removed once) of at most one entry per 1/128 of the span, so
/// it stays small over a day of checks whatever the series does (a steady fall keeps every
/// value). An entry is a bucket's largest value, kept until the bucket's last push is
/// `lookback` old: a peak counts up to 1/128 of the span longer than it would alone.
struct SlidingMaximum: Sendable {
    let lookback: Double
    private let bucketWidth: Double
    private var entries: [(t: Double, value: Double)] = []
    private var head = 0
    static let buckets = 128.0

    init(lookback: Double) {
        self.lookback = max(0, lookback)
        bucketWidth = self.lookback / Self.buckets
    }

    /// Entries kept now (for tests).
    var count: Int { entries.count - head }

    /// Adds the value at `t`; values pushed `lookback` before `now` are forgotten.
    mutating func push(t: Double, value: Double, now: Double) {
        guard lookback > 0 else { return }
        while entries.count > head, let last = entries.last, last.value <= value { entries.removeLast() }
        if entries.count > head, let last = entries.last, (last.t / bucketWidth).rounded(.down) == (t / bucketWidth).rounded(.down) {
            // The bucket's earlier value is larger: it stands for both, as long as the newer one would.
            entries[entries.count - 1].t = t
        } else {
            entries.append((t, value))
        }
        while head < entries.count, entries[head].t < now - lookback { head += 1 }
        if head > 64 && head * 2 > entries.count {
            entries.removeFirst(head)
            head = 0
        }
    }

    /// Whether `value` is above every value pushed within `lookback` before `now` (true when none).
    func isBelow(_ value: Double, now: Double) -> Bool {
        // Values fall from the front: the first one recent enough is the largest.
        guard let peak = entries[head...].first(where: { $0.t >= now - lookback })?.value else { return true }
        return value > peak
    }
}
