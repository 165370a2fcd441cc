/// What one check published: the sample, the levels and alerts it left in force, and the counts
/// readers show. Immutable; every reader (exposition, health API, alert summary) reads one of
/// these, so one response never mixes two checks.
public struct MonitorSnapshot: Sendable {
    /// Increases by one per check; caches key on it.
    public var generation: UInt64
    /// The sample the check took.
    public var sample: Sample
    /// The level per measured component (and `target` while the target is gone).
    public var levels: [Component: Severity]
    /// Alerts firing after the check (including ones the rate limit held back), by component.
    public var activeAlerts: [Alert]
    /// When the check finished.
    public var checkedAt: ContinuousClock.Instant
    /// How long the check took, seconds.
    public var checkSeconds: Double
    /// Clean-up cycles run so far (`gc_collections`).
    public var cleanupCycles: UInt64
    /// Growth rate, leak state and predicted crossings; nil before enough checks or without a target.
    public var growth: GrowthTracker.Analysis?
    /// What the checks have counted up to and including this one.
    public var totals: CheckTotals
    /// The newest allocation profile's top sites (issue 27); empty before the first.
    package var leakSites: [LeakSite] = []

    /// Times the target's identity changed (restart, pid reuse seen through a pid file, group membership).
    public var targetChanges: UInt64 { totals.targetChanges }

    /// The highest level in force.
    public var overallSeverity: Severity { levels.values.max() ?? .healthy }
}
