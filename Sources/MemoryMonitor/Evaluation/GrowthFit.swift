/// A robust straight-line fit of memory over time: the Theil–Sen estimator (the median of the
/// slopes between every pair of points), which a spike or a few outliers do not move.
public struct GrowthFit: Sendable, Equatable {
    /// Growth, bytes per second (negative when shrinking).
    public var slope: Double
    /// The fitted value at `end`, bytes.
    public var valueAtEnd: Double
    /// The fitted value at `start`, bytes.
    public var valueAtStart: Double
    /// Time span of the points, seconds.
    public var start: Double
    public var end: Double
    /// Share of the variance the line explains, 0…1 (1 − residual / total sum of squares).
    public var explained: Double
    /// Points fitted.
    public var count: Int
    /// The medians of four equal time segments, oldest first: growth that is sustained raises
    /// every one of them; a single step raises one.
    public var quarterMedians: [Double]

    /// At most this many points enter the fit (evenly thinned): Theil–Sen is quadratic in them.
    public static let maximumPoints = 64

    /// Fits `points` (time in seconds, value in bytes), oldest first. Nil with fewer than 3
    /// points or no time span.
    public static func fit(_ points: [(t: Double, v: Double)]) -> GrowthFit? {
        let thinned = thin(points)
        guard thinned.count >= 3, let first = thinned.first, let last = thinned.last, last.t > first.t else { return nil }
        var slopes: [Double] = []
        slopes.reserveCapacity(thinned.count * (thinned.count - 1) / 2)
        for i in 0..<thinned.count {
            for j in (i + 1)..<thinned.count where thinned[j].t > thinned[i].t {
                slopes.append((thinned[j].v - thinned[i].v) / (thinned[j].t - thinned[i].t))
            }
        }
        guard !slopes.isEmpty else { return nil }
        let slope = median(&slopes)
        var intercepts = thinned.map { $0.v - slope * $0.t }
        let intercept = median(&intercepts)
        let mean = thinned.reduce(0) { $0 + $1.v } / Double(thinned.count)
        var residual = 0.0
        var total = 0.0
        for p in thinned {
            let r = p.v - (intercept + slope * p.t)
            residual += r * r
            total += (p.v - mean) * (p.v - mean)
        }
        let explained = total == 0 ? 0 : max(0, 1 - residual / total)
        let span = last.t - first.t
        var quarters: [Double] = []
        for q in 0..<4 {
            let lo = first.t + span * Double(q) / 4
            let hi = first.t + span * Double(q + 1) / 4
            var values = thinned.filter { $0.t >= lo && (q == 3 ? $0.t <= hi : $0.t < hi) }.map(\.v)
            quarters.append(values.isEmpty ? .nan : median(&values))
        }
        return GrowthFit(
            slope: slope, valueAtEnd: intercept + slope * last.t, valueAtStart: intercept + slope * first.t, start: first.t, end: last.t,
            explained: explained, count: thinned.count, quarterMedians: quarters)
    }

    /// Seconds until the fitted line reaches `target`: 0 when already there, nil when not growing.
    public func secondsUntil(_ target: Double) -> Double? {
        if valueAtEnd >= target { return 0 }
        guard slope > 0 else { return nil }
        return (target - valueAtEnd) / slope
    }

    static func thin(_ points: [(t: Double, v: Double)]) -> [(t: Double, v: Double)] {
        guard points.count > maximumPoints else { return points }
        let step = Double(points.count - 1) / Double(maximumPoints - 1)
        return (0..<maximumPoints).map { points[Int((Double($0) * step).rounded())] }
    }

    /// The median, by selection (Hoare's quickselect, expected linear) rather than a full sort:
    /// a fit takes the median of up to 2016 slopes, three fits a check. Reorders `values`.
    static func median(_ values: inout [Double]) -> Double {
        let n = values.count
        precondition(n > 0, "median of nothing")
        return values.withUnsafeMutableBufferPointer { a in
            let upper = select(a, n / 2)
            if n % 2 == 1 { return upper }
            // After the selection every element before n/2 is at most `upper`: the other middle
            // element is the largest of them.
            var lower = a[0]
            for i in 1..<(n / 2) where a[i] > lower { lower = a[i] }
            return (lower + upper) / 2
        }
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
