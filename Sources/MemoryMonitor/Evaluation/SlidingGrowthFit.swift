/// The Theil–Sen fit of a window whose points mostly stay put: "settled" points, which are added
/// at the new end and dropped at the old end now and then, plus the newest point, which is new at
/// every check. The slopes between settled points are kept sorted as points come and go, so a
/// check computes only the slopes from the newest point to the others, and finds the median of
/// all of them by selecting among about twice that many values. The result is the same fit,
/// to the bit, as `GrowthFit.fit` of the settled points and the newest one; a check costs a few
/// microseconds instead of computing and selecting among every pair's slope (2016 for 64 points).
struct SlidingGrowthFit: Sendable {
    /// Settled points, oldest first, times strictly increasing.
    private(set) var points: [(t: Double, v: Double)] = []
    /// The slope between every pair of settled points, in ascending order.
    private(set) var slopes: [Double] = []

    /// Settled points now.
    var count: Int { points.count }
    /// The oldest settled point's time.
    var firstTime: Double? { points.first?.t }
    /// The newest settled point's time.
    var lastTime: Double? { points.last?.t }

    /// Settles a point after every settled one (a later time; an earlier or equal time, or a
    /// value that is not finite, is not taken).
    mutating func append(_ point: (t: Double, v: Double)) {
        guard point.t.isFinite, point.v.isFinite, points.last.map({ point.t > $0.t }) ?? true else { return }
        let k = points.count
        if k > 0 {
            withUnsafeTemporaryAllocation(of: Double.self, capacity: k) { new in
                for i in 0..<k { new[i] = (point.v - points[i].v) / (point.t - points[i].t) }
                Self.insertionSort(new)
                merge(new)
            }
        }
        points.append(point)
    }

    /// Drops the oldest settled point.
    mutating func removeFirst() {
        guard let gone = points.first else { return }
        points.removeFirst()
        let k = points.count
        guard k > 0 else { return slopes.removeAll(keepingCapacity: true) }
        withUnsafeTemporaryAllocation(of: Double.self, capacity: k) { old in
            for i in 0..<k { old[i] = (points[i].v - gone.v) / (points[i].t - gone.t) }
            remove(old)
        }
    }

    /// Drops the newest settled point (a clock that stepped back).
    mutating func removeLast() {
        guard let gone = points.popLast() else { return }
        let k = points.count
        guard k > 0 else { return slopes.removeAll(keepingCapacity: true) }
        withUnsafeTemporaryAllocation(of: Double.self, capacity: k) { old in
            for i in 0..<k { old[i] = (gone.v - points[i].v) / (gone.t - points[i].t) }
            remove(old)
        }
    }

    mutating func removeAll() {
        points.removeAll(keepingCapacity: true)
        slopes.removeAll(keepingCapacity: true)
    }

    /// The fit of the settled points and `newest` (left out when nil, or when it is not later
    /// than the newest settled point). Nil with fewer than 3 points.
    func fit(newest: (t: Double, v: Double)?) -> GrowthFit? {
        let newest = newest.flatMap { n in n.t.isFinite && n.v.isFinite && (points.last.map { n.t > $0.t } ?? true) ? n : nil }
        let m = points.count
        let k = newest == nil ? 0 : m
        let n = m + (newest == nil ? 0 : 1)
        guard n >= 3 else { return nil }
        // The slopes of every pair: `slopes` (sorted) and the k from the newest point.
        let total = slopes.count + k
        let lowerRank = (total - 1) / 2
        let slope: Double = withUnsafeTemporaryAllocation(of: Double.self, capacity: 2 * k + 2) { candidates in
            guard let newest else {
                return total % 2 == 1 ? slopes[lowerRank] : (slopes[lowerRank] + slopes[lowerRank + 1]) / 2
            }
            // In the sorted union of both, at most k of the first lowerRank values are new slopes,
            // so the settled slopes below index lowerRank - k all come before the lower middle;
            // and settled slope i comes at position i or later, so those past index
            // lowerRank + 1 all come after the upper middle. The middles are among the k new
            // slopes and the settled ones in between, at most 2k + 2 values.
            let low = max(0, lowerRank - k)
            let high = min(slopes.count, lowerRank + 2)
            var c = 0
            for i in 0..<k {
                candidates[c] = (newest.v - points[i].v) / (newest.t - points[i].t)
                c += 1
            }
            for i in low..<high {
                candidates[c] = slopes[i]
                c += 1
            }
            let window = UnsafeMutableBufferPointer(rebasing: candidates[..<c])
            let lower = GrowthFit.select(window, lowerRank - low)
            if total % 2 == 1 { return lower }
            // The next value up: the smallest after the selected one.
            var upper = window[lowerRank - low + 1]
            for i in (lowerRank - low + 1)..<c { upper = min(upper, window[i]) }
            return (lower + upper) / 2
        }
        return withUnsafeTemporaryAllocation(of: (t: Double, v: Double).self, capacity: n) { buffer in
            for i in 0..<m { buffer[i] = points[i] }
            if let newest { buffer[m] = newest }
            return withUnsafeTemporaryAllocation(of: Double.self, capacity: n) { scratch in
                GrowthFit.completing(UnsafeBufferPointer(buffer), slope: slope, scratch: scratch)
            }
        }
    }

    /// Merges ascending `new` into `slopes`, from the back, in place.
    private mutating func merge(_ new: UnsafeMutableBufferPointer<Double>) {
        var i = slopes.count - 1
        var j = new.count - 1
        slopes.append(contentsOf: repeatElement(0, count: new.count))
        slopes.withUnsafeMutableBufferPointer { s in
            var w = s.count - 1
            while j >= 0 {
                if i >= 0 && s[i] > new[j] {
                    s[w] = s[i]
                    i -= 1
                } else {
                    s[w] = new[j]
                    j -= 1
                }
                w -= 1
            }
        }
    }

    /// Removes one occurrence of each value of `old` from `slopes`. Each was computed by the same
    /// arithmetic as when it was merged, so it is there; if one is not (which would be a bug),
    /// the slopes are recomputed from the points.
    private mutating func remove(_ old: UnsafeMutableBufferPointer<Double>) {
        Self.insertionSort(old)
        let removed = slopes.withUnsafeMutableBufferPointer { s -> Int in
            var w = 0
            var j = 0
            for r in 0..<s.count {
                while j < old.count && old[j] < s[r] { j += 1 }
                if j < old.count && old[j] == s[r] {
                    j += 1
                    continue
                }
                s[w] = s[r]
                w += 1
            }
            return s.count - w
        }
        slopes.removeLast(removed)
        if removed != old.count { rebuild() }
    }

    /// Every pair's slope from the points, sorted.
    private mutating func rebuild() {
        slopes.removeAll(keepingCapacity: true)
        for i in 0..<points.count {
            for j in (i + 1)..<points.count { slopes.append((points[j].v - points[i].v) / (points[j].t - points[i].t)) }
        }
        slopes.sort()
    }

    /// Sorts a small buffer (at most 64 values here) without allocating.
    static func insertionSort(_ a: UnsafeMutableBufferPointer<Double>) {
        guard a.count > 1 else { return }
        for i in 1..<a.count {
            let x = a[i]
            var j = i
            while j > 0 && a[j - 1] > x {
                a[j] = a[j - 1]
                j -= 1
            }
            a[j] = x
        }
    }
}
