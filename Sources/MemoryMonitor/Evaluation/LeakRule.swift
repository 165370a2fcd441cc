/// When growth is a leak. All of these, over the last `monitoring_window` seconds of checks:
/// 1. enough evidence: at least 6 points spanning at least 80 % of the window;
/// 2. enough growth: the fitted line rises by at least `threshold_growth_rate` of its starting
///    value over the window (SPEC: 10 % in 5 minutes), scaled to the window when the span is shorter;
/// 3. the rise is not noise: the Theil–Sen fit explains at least 80 % of the variance, or its
///    slope is at least 4 standard errors (a slow leak under noise the size of a window's rise
///    explains less of the variance, but its slope is just as certain; noise and a sawtooth
///    around a flat level are neither);
/// 4. it does not slow: the growth rate falls by less than 30 % across the window, or not
///    certainly (`GrowthFit.slows`): a cache warming up rises ever more slowly; or, if it
///    does, the window's newer half goes on along a line (`goesOn`);
/// 5. it is sustained: the median of each quarter of the window is above the previous quarter's
///    by at least a quarter of the growth the line expects per quarter (one step, as a cache
///    warming up and then flat, raises one quarter, not all of them).
/// An episode ends when, over a window, the line rises by less than half the threshold of the
/// size the episode was detected at, or by less than half the threshold of the size now and at
/// less than half the rate it was detected with, even at two standard errors above its slope.
package struct LeakRule: Sendable, Equatable {
    /// `monitoring.leak_detection.threshold_growth_rate`.
    package var thresholdGrowthRate: Double
    /// `monitoring.leak_detection.monitoring_window`, seconds.
    package var window: Double
    package static let minimumPoints = 6
    package static let minimumSpanShare = 0.8
    package static let minimumExplained = 0.8
    package static let minimumSignificance = 4.0
    package static let quarterShare = 0.25

    package init(thresholdGrowthRate: Double, window: Double) {
        self.thresholdGrowthRate = thresholdGrowthRate
        self.window = window
    }

    /// Relative growth the fit shows over a full window.
    package func windowGrowth(_ fit: GrowthFit) -> Double {
        guard fit.valueAtStart > 0 else { return 0 }
        return fit.slope * window / fit.valueAtStart
    }

    /// Whether the fit is a leak by the rule above. `newerHalf` gives the fit of the window's
    /// newer half; it is asked for only when the window's rise slows (rule 4).
    package func isLeak(_ fit: GrowthFit, newerHalf: () -> GrowthFit? = { nil }) -> Bool {
        guard fit.count >= Self.minimumPoints, fit.end - fit.start >= window * Self.minimumSpanShare else { return false }
        guard windowGrowth(fit) >= thresholdGrowthRate, fit.explained >= Self.minimumExplained || fit.significance >= Self.minimumSignificance
        else { return false }
        let perQuarter = fit.slope * (fit.end - fit.start) / 4
        let q = fit.quarterMedians
        guard q.count == 4, q.allSatisfy({ !$0.isNaN }), zip(q, q.dropFirst()).allSatisfy({ $1 - $0 >= perQuarter * Self.quarterShare }) else { return false }
        return !fit.slows || newerHalf().map { Self.goesOn($0, after: fit) } == true
    }

    /// Whether a rise that slowed within the window goes on along a line in its newer half:
    /// rising there at no less than 80 % of the window's slope, and certainly not slowing by
    /// 10 % or more across the half (the fall of its rate plus two standard errors of that
    /// fall stays under a tenth of its slope). A leak whose rate dropped once (the example
    /// service leaks 7.5 MiB/min for its first ten minutes, then 6.0) slowed and now goes on;
    /// a cache warming up or a cycle nearing its peak still slows, and under noise that hides
    /// whether it does, the window's slowing stands. With fewer than 8 points in the half (a
    /// long check interval) its bend cannot be told, so neither can this.
    static func goesOn(_ newer: GrowthFit, after fit: GrowthFit) -> Bool {
        guard newer.count >= 8, newer.slope > 0, newer.slope >= 0.8 * fit.slope else { return false }
        let fall = -newer.curvature * (newer.end - newer.start)
        let fallError = newer.curvatureSignificance == 0 || newer.curvatureSignificance.isInfinite ? 0 : abs(fall / newer.curvatureSignificance)
        return fall + 2 * fallError < 0.1 * newer.slope
    }

    /// Whether an episode in progress has ended, its growth taken two standard errors above the
    /// fitted slope: under half the threshold of `base`, the size the episode was detected at
    /// (the window's start then); or under half the threshold of the size now and under half
    /// `detectedSlope`, the growth it was detected with. Under noise a steady leak's slope dips
    /// now and then; without the margin such a dip "resolved" a leak that went on, and the next
    /// rise raised it again. Against the size now alone, a steady leak of so many MB a minute
    /// ended once the target had grown large enough (the corpus's 3 MiB/min leak at 300 MiB,
    /// still leaking); against the size at detection alone, a cache that warmed up from 20 MiB
    /// kept its episode open for as long as it grew at all. A rise that slowed to half and is
    /// small by the rule now has stopped being what was detected.
    package func hasStopped(_ fit: GrowthFit, base: Double, detectedSlope: Double) -> Bool {
        guard fit.end - fit.start >= window * Self.minimumSpanShare else { return false }
        let upper = fit.slope + 2 * fit.slopeError
        if upper < endingGrowth(base: base) { return true }
        return upper < endingGrowth(base: fit.valueAtStart) && upper < detectedSlope / 2
    }

    /// Half the threshold's growth, per second, of a target of size `base`.
    private func endingGrowth(base: Double) -> Double {
        thresholdGrowthRate / 2 * max(0, base) / window
    }
}
