/// The level of one component over time, without flapping: a level rises only after the value has
/// stayed above the current level for `forChecks` consecutive checks (it rises to the lowest level
/// seen in that run), and falls only when the value drops below a threshold by the hysteresis margin.
package struct LevelTracker: Sendable, Equatable {
    /// The level currently in force (what alerts and /health report).
    package private(set) var level: Severity
    /// Consecutive checks so far with the value above the current level.
    package private(set) var pendingChecks = 0
    /// The lowest level seen during those checks.
    private var pendingFloor: Severity = .emergency

    /// Consecutive checks before a rise takes effect (1 = at once).
    package var forChecks: Int
    /// Percent below a threshold the value must fall for that level to clear.
    package var hysteresisPercent: Double

    package init(forChecks: Int = 1, hysteresisPercent: Double = 5, level: Severity = .healthy) {
        self.forChecks = max(1, forChecks)
        self.hysteresisPercent = hysteresisPercent
        self.level = level
    }

    /// Back to healthy with nothing pending, without reporting a change (the value lost its meaning).
    package mutating func reset() {
        level = .healthy
        pendingChecks = 0
    }

    /// Feeds one check's value; returns the new level when it changed.
    package mutating func update(value: Double?, bounds: ThresholdPolicy.Bounds) -> Severity? {
        guard let value else {
            // Not measured (unknown, or target gone): hold the level, forget any pending rise.
            pendingChecks = 0
            return nil
        }
        let raw = bounds.level(of: value)
        if raw > level {
            pendingFloor = pendingChecks == 0 ? raw : min(pendingFloor, raw)
            pendingChecks += 1
            guard pendingChecks >= forChecks else { return nil }
            pendingChecks = 0
            level = pendingFloor
            return level
        }
        pendingChecks = 0
        // Falling: keep the highest level whose threshold, less the margin, the value still reaches.
        var kept = Severity.healthy
        for severity in Severity.alerting where severity <= level {
            if value >= bounds.bound(for: severity)! * (1 - hysteresisPercent / 100) { kept = severity }
        }
        guard kept < level else { return nil }
        level = kept
        return kept
    }
}
