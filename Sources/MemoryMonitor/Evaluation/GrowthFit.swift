#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// A robust straight-line fit of memory over time: the Theil–Sen estimator (the median of the
/// slopes between every pair of points), which a spike or a few outliers do not move.
package struct GrowthFit: Sendable, Equatable {
    /// Growth, bytes per second (negative when shrinking).
    package var slope: Double
    /// The fitted value at `end`, bytes.
    package var valueAtEnd: Double
    /// The fitted value at `start`, bytes.
    package var valueAtStart: Double
    /// Time span of the points, seconds.
    package var start: Double
    package var end: Double
    /// Share of the variance the line explains, 0…1 (1 − residual / total sum of squares).
    package var explained: Double
    /// The slope over its standard error, with the residuals about this line: how many times
    /// the noise could not make this slope. Infinite for points exactly on a rising line, 0 for
    /// a flat one. Unlike `explained` it does not fall as the noise grows against one window's
    /// rise, only as the evidence does: a slow leak under noise is a weak fit and a clear slope.
    package var significance: Double
    /// How the growth rate itself changes: the second derivative of a parabola fitted to what
    /// the line leaves (bytes/s²; negative when the rise slows, as a cache warming up does).
    package var curvature: Double
    /// `curvature` in standard errors (0 when it cannot be told).
    package var curvatureSignificance: Double
    /// How much one point strays at random, bytes: the smaller of the residuals' standard
    /// deviation, √(residual sum of squares ÷ (n − 2)), and the one the differences between
    /// neighbouring points give, √(Σ(dᵢ − d̄)² ÷ 2(n − 2)) (a bend or a step a line does not
    /// follow leaves residuals that are not noise; it barely moves neighbours apart). 0 with
    /// fewer than three points.
    package var noise: Double
    /// The residuals' standard deviation about the line, √(residual sum of squares ÷ (n − 2)),
    /// bytes: noise and whatever the line does not follow (a bend, a step). 0 with fewer than
    /// three points.
    package var scatter: Double
    /// Points fitted.
    package var count: Int
    /// The medians of four equal time segments, oldest first: growth that is sustained raises
    /// every one of them; a single step raises one.
    package var quarterMedians: [Double]

    /// At most this many points enter a fit: Theil–Sen is quadratic in them. The leak tracker
    /// keeps one point per slot of window/63 and the newest check (`GrowthTracker`); a list with
    /// more is thinned evenly here.
    package static let maximumPoints = 64

    /// Fits `points` (time in seconds, value in bytes), oldest first, computing every pair's
    /// slope. Nil with fewer than 3 points or no time span. The tracker's checks use
    /// `SlidingGrowthFit`, which gives the same fit from the slopes it keeps.
    package static func fit(_ points: [(t: Double, v: Double)]) -> GrowthFit? {
        guard points.count >= 3 else { return nil }
        return withUnsafeTemporaryAllocation(of: (t: Double, v: Double).self, capacity: points.count) { buffer in
            for (i, point) in points.enumerated() { buffer[i] = point }
            let n = thin(buffer, count: points.count)
            let p = UnsafeBufferPointer(rebasing: buffer[..<n])
            guard n >= 3, let first = p.first, let last = p.last, last.t > first.t else { return nil }
            // One scratch buffer for the slopes, then the intercepts and each quarter's values.
            return withUnsafeTemporaryAllocation(of: Double.self, capacity: n * (n - 1) / 2) { fit(p, scratch: $0) }
        }
    }

    /// The fit of at least three points spanning some time; `scratch` holds n(n-1)/2 values.
    private static func fit(_ p: UnsafeBufferPointer<(t: Double, v: Double)>, scratch: UnsafeMutableBufferPointer<Double>) -> GrowthFit? {
        let n = p.count
        var count = 0
        for i in 0..<(n - 1) {
            let (ti, vi) = p[i]
            for j in (i + 1)..<n where p[j].t > ti {
                scratch[count] = (p[j].v - vi) / (p[j].t - ti)
                count += 1
            }
        }
        guard count > 0 else { return nil }
        let slope = median(UnsafeMutableBufferPointer(rebasing: scratch[..<count]))
        return completing(p, slope: slope, scratch: scratch)
    }

    /// The rest of a fit once the slope is known: the intercept (the median of the points'
    /// offsets from the slope), the share of variance explained and the quarter medians.
    /// `p` holds at least two points, oldest first, spanning some time; `scratch` at least n values.
    static func completing(_ p: UnsafeBufferPointer<(t: Double, v: Double)>, slope: Double, scratch: UnsafeMutableBufferPointer<Double>)
        -> GrowthFit
    {
        let n = p.count
        let (first, last) = (p[0], p[n - 1])
        for i in 0..<n { scratch[i] = p[i].v - slope * p[i].t }
        let intercept = median(UnsafeMutableBufferPointer(rebasing: scratch[..<n]))
        var sum = 0.0
        var sumT = 0.0
        for i in 0..<n {
            sum += p[i].v
            sumT += p[i].t
        }
        let mean = sum / Double(n)
        let meanT = sumT / Double(n)
        var residual = 0.0
        var total = 0.0
        var spread = 0.0
        var sumR = 0.0
        for i in 0..<n {
            let r = p[i].v - (intercept + slope * p[i].t)
            residual += r * r
            sumR += r
            total += (p[i].v - mean) * (p[i].v - mean)
            spread += (p[i].t - meanT) * (p[i].t - meanT)
        }
        let explained = total == 0 ? 0 : max(0, 1 - residual / total)
        let significance = Self.significance(slope: slope, residual: residual, spread: spread, count: n)
        // What the line leaves, against the squared distance from the middle time (whose mean is
        // spread / n): a parabola.
        let (meanR, meanW) = (sumR / Double(n), spread / Double(n))
        var rw = 0.0
        var ww = 0.0
        var rr = 0.0
        for i in 0..<n {
            let u = p[i].t - meanT
            let (r, w) = (p[i].v - (intercept + slope * p[i].t) - meanR, u * u - meanW)
            rw += r * w
            ww += w * w
            rr += r * r
        }
        let (curvature, curvatureSignificance) = Self.curvature(rw: rw, ww: ww, rr: rr, count: n)
        let span = last.t - first.t
        var quarters: [Double] = []
        quarters.reserveCapacity(4)
        for q in 0..<4 {
            let lo = first.t + span * Double(q) / 4
            let hi = first.t + span * Double(q + 1) / 4
            var m = 0
            for i in 0..<n where p[i].t >= lo && (q == 3 ? p[i].t <= hi : p[i].t < hi) {
                scratch[m] = p[i].v
                m += 1
            }
            quarters.append(m == 0 ? .nan : median(UnsafeMutableBufferPointer(rebasing: scratch[..<m])))
        }
        return GrowthFit(
            slope: slope, valueAtEnd: intercept + slope * last.t, valueAtStart: intercept + slope * first.t, start: first.t, end: last.t,
            explained: explained, significance: significance, curvature: curvature, curvatureSignificance: curvatureSignificance,
            noise: noise(p, residual: residual), scatter: n > 2 ? (residual / Double(n - 2)).squareRoot() : 0, count: n, quarterMedians: quarters)
    }

    /// `noise` of the points `p`, oldest first, whose residual sum of squares about the line is `residual`.
    static func noise(_ p: UnsafeBufferPointer<(t: Double, v: Double)>, residual: Double) -> Double {
        let n = p.count
        guard n > 2 else { return 0 }
        let meanStep = (p[n - 1].v - p[0].v) / Double(n - 1)
        var steps = 0.0
        for i in 1..<n {
            let d = p[i].v - p[i - 1].v - meanStep
            steps += d * d
        }
        return (min(residual, steps / 2) / Double(n - 2)).squareRoot()
    }

    /// The parabola's second derivative (`2c` for `c·u²`) and `c` in standard errors, from the
    /// centred sums of residual × weight, weight² and residual².
    static func curvature(rw: Double, ww: Double, rr: Double, count n: Int) -> (Double, Double) {
        guard n > 3, ww > 0 else { return (0, 0) }
        let c = rw / ww
        let left = max(0, rr - c * c * ww) / Double(n - 3)
        guard c != 0 else { return (0, 0) }
        guard left > 0 else { return (2 * c, c > 0 ? .infinity : -.infinity) }
        return (2 * c, c * (ww / left).squareRoot())
    }

    /// `slope / (s / sqrt(spread))` with `s² = residual / (n − 2)`: the slope in standard errors.
    static func significance(slope: Double, residual: Double, spread: Double, count n: Int) -> Double {
        guard n > 2, spread > 0, slope != 0 else { return 0 }
        let variance = residual / Double(n - 2)
        guard variance > 0 else { return slope > 0 ? .infinity : -.infinity }
        return slope * (spread / variance).squareRoot()
    }

    /// The rise is slowing for certain: the growth rate falls by at least 30 % across the
    /// span, by at least 3 standard errors (5 before the twelfth session: under 2 MiB of noise
    /// a fast warm-up's bend did not reach it; docs/leak-detection.md). A cache warming up, or
    /// a load that has passed its peak hour, rises ever more slowly; a leak does not. Neither a
    /// leak nor a trend is read from such a window (but see `LeakRule.goesOn`).
    package var slows: Bool {
        slope > 0 && curvatureSignificance <= -3 && -curvature * (end - start) >= 0.3 * slope
    }

    /// The slope's standard error, bytes per second (0 when it cannot be told).
    package var slopeError: Double {
        significance.isFinite && significance != 0 ? abs(slope / significance) : 0
    }

    /// The same fit without noise: its first check over a target is the line's crossing.
    package var withoutNoise: GrowthFit {
        var fit = self
        fit.noise = 0
        return fit
    }

    /// The same line through the same end value with another slope.
    package func pivoted(slope newSlope: Double) -> GrowthFit {
        through(value: valueAtEnd, slope: newSlope)
    }

    /// The same line, its end moved to `t`.
    package func extended(to t: Double) -> GrowthFit {
        var fit = self
        fit.valueAtEnd += slope * (t - end)
        fit.end = t
        return fit
    }

    /// The line with `slope` through `value` at the fit's end.
    package func through(value: Double, slope newSlope: Double) -> GrowthFit {
        var fit = self
        fit.slope = newSlope
        fit.valueAtEnd = value
        fit.valueAtStart = value - newSlope * (end - start)
        return fit
    }

    /// Seconds until the fitted line reaches `target`: 0 when already there, nil when not growing.
    package func secondsUntil(_ target: Double) -> Double? {
        if valueAtEnd >= target { return 0 }
        guard slope > 0 else { return nil }
        return (target - valueAtEnd) / slope
    }

    /// Seconds until the first check that reads at least `target`, at the median, when checks
    /// come every `interval` seconds and read the line plus independent noise the size of the
    /// fit's `noise`. Under noise some check reads above the line first, so a threshold is
    /// crossed before the line reaches it: with a slow rise, one to two standard deviations of
    /// the noise before. With the check k intervals ahead below the target with probability
    /// Φ((target − line(k)) ÷ noise), none of the first k checks reaches it with the product of
    /// those; the time is the first k where that falls to one half. It is the line's time when
    /// the noise is below a quarter of one interval's rise (the checks cannot tell them apart),
    /// 0 when the line is there, nil when it is not rising. At most 128 steps: where the line is
    /// more than 5 standard deviations below the target a check reaches it with a probability
    /// under 3·10⁻⁷, and the steps take several checks at once when there are more.
    package func secondsUntilFirstCheck(reaching target: Double, interval: Double) -> Double? {
        guard let line = secondsUntil(target) else { return nil }
        let rise = slope * interval
        guard line > 0, interval > 0, noise.isFinite, noise > 0, noise * 4 > rise else { return line }
        let last = (line / interval).rounded(.up)
        guard last.isFinite, last < 1e12 else { return line }
        var k = max(1, ((target - 5 * noise - valueAtEnd) / rise).rounded(.up))
        guard k <= last else { return line }
        let stride = max(1, ((last - k + 1) / 128).rounded(.up))
        let half = -0.693_147_180_559_945_3  // log ½
        var logSurvival = 0.0
        while k <= last {
            let m = min(stride, last - k + 1)
            let middle = k + (m - 1) / 2
            let z = (target - (valueAtEnd + rise * middle)) / noise
            // log Φ(z) = log(1 − Q(z)), Q(z) = ½ erfc(z ÷ √2): exact far above the line too.
            let perCheck = log1p(-0.5 * erfc(z * 0.707_106_781_186_547_5))
            let step = m * perCheck
            if logSurvival + step <= half {
                let within = ((half - logSurvival) / perCheck).rounded(.up)
                return min(line, (k - 1 + max(1, min(m, within))) * interval)
            }
            logSurvival += step
            k += m
        }
        return line
    }

    /// How much sooner than the line the first check reaches a target more than six standard
    /// deviations of the noise above the line's value now: the same for every such target (the
    /// line approaches each one alike), so a check computes it once for all of them. 0 when the
    /// noise is below a quarter of one interval's rise or the line is not rising.
    package func firstCheckLead(interval: Double) -> Double {
        let rise = slope * interval
        guard slope > 0, interval > 0, noise.isFinite, noise > 0, noise * 4 > rise else { return 0 }
        let checks = (6 * noise / rise).rounded(.up)
        guard checks.isFinite, checks < 1e12, let first = secondsUntilFirstCheck(reaching: valueAtEnd + checks * rise, interval: interval) else { return 0 }
        return max(0, checks * interval - first)
    }

    /// `secondsUntilFirstCheck(reaching:interval:)`, with the lead for far targets given
    /// (`firstCheckLead`, computed once by the caller when `lead` is nil and needed).
    package func secondsUntilFirstCheck(reaching target: Double, interval: Double, lead: inout Double?) -> Double? {
        guard let line = secondsUntil(target) else { return nil }
        guard line > 0, target - valueAtEnd > 6 * noise else { return secondsUntilFirstCheck(reaching: target, interval: interval) }
        let known = lead ?? firstCheckLead(interval: interval)
        lead = known
        return max(0, line - known)
    }

    /// Keeps `maximumPoints` evenly spaced points of the first `count` in `buffer`, in place
    /// (the first and the last always), and returns how many are left.
    static func thin(_ buffer: UnsafeMutableBufferPointer<(t: Double, v: Double)>, count: Int) -> Int {
        guard count > maximumPoints else { return count }
        let step = Double(count - 1) / Double(maximumPoints - 1)
        // Each kept index is at least its new position: copying forward overwrites nothing unread.
        for k in 0..<maximumPoints { buffer[k] = buffer[Int((Double(k) * step).rounded())] }
        return maximumPoints
    }

    /// The median, by selection (Hoare's quickselect, expected linear) rather than a full sort:
    /// a batch fit takes the median of up to 2016 slopes. Reorders `values`.
    static func median(_ values: inout [Double]) -> Double {
        precondition(!values.isEmpty, "median of nothing")
        return values.withUnsafeMutableBufferPointer { median($0) }
    }

    /// The median of a non-empty buffer, which it reorders.
    static func median(_ a: UnsafeMutableBufferPointer<Double>) -> Double {
        let n = a.count
        let upper = select(a, n / 2)
        if n % 2 == 1 { return upper }
        // After the selection every element before n/2 is at most `upper`: the other middle
        // element is the largest of them.
        var lower = a[0]
        for i in 1..<(n / 2) where a[i] > lower { lower = a[i] }
        return (lower + upper) / 2
    }

    /// The k-th smallest element (0-based); afterwards a[..<k] <= a[k] <= a[(k+1)...].
    static func select(_ a: UnsafeMutableBufferPointer<Double>, _ k: Int) -> Double {
        var lo = 0
        var hi = a.count - 1
        while lo < hi {
            // Median of three as the pivot: sorted or reversed input stays linear.
            let mid = lo + (hi - lo) / 2
            if a[mid] < a[lo] { a.swapAt(mid, lo) }
            if a[hi] < a[lo] { a.swapAt(hi, lo) }
            if a[hi] < a[mid] { a.swapAt(hi, mid) }
            let pivot = a[mid]
            var i = lo
            var j = hi
            while i <= j {
                while a[i] < pivot { i += 1 }
                while a[j] > pivot { j -= 1 }
                if i <= j {
                    a.swapAt(i, j)
                    i += 1
                    j -= 1
                }
            }
            if k <= j {
                hi = j
            } else if k >= i {
                lo = i
            } else {
                return a[k]
            }
        }
        return a[k]
    }
}
