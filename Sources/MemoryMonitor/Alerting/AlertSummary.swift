/// What the alerts of a time window came to (SPEC §4 `/health/alerts`). Every firing alert sent
/// in the window ends up in exactly one of: still active, resolved (a resolve for its component
/// followed), superseded (a new level for its component replaced it, or its target vanished).
public struct AlertSummary: Sendable, Equatable {
    /// The window, hours.
    public var hours: Double
    /// Firing alerts sent in the window (`total_alerts`).
    public var total: Int
    /// Alerts firing now, including ones the rate limit held back: the same set `/health` counts.
    public var active: Int
    /// Sent alerts in the window that a resolve ended.
    public var resolved: Int
    /// Sent alerts in the window that a later level change or a vanished target replaced.
    public var superseded: Int
    /// Sent firing alerts per severity and per component.
    public var bySeverity: [String: Int]
    public var byComponent: [String: Int]
    /// Every alert sent in the window (firing and resolved), newest first.
    public var alerts: [Alert]

    /// Summarises `history` (oldest first) from `since`, with the alerts `active` now.
    public init(hours: Double, history: [Alert], since: Double, active: [Alert], superseded supersededIDs: Set<String>) {
        self.hours = hours
        let activeIDs = Set(active.map(\.id))
        var total = 0
        var resolved = 0
        var superseded = 0
        var bySeverity: [String: Int] = [:]
        var byComponent: [String: Int] = [:]
        var windowed: [Alert] = []
        for (index, alert) in history.enumerated() where alert.timestamp >= since {
            windowed.append(alert)
            guard alert.status == .firing else { continue }
            total += 1
            bySeverity[alert.severity.description, default: 0] += 1
            byComponent[alert.component.rawValue, default: 0] += 1
            if alert.component.isEvent || activeIDs.contains(alert.id) { continue }
            let next = history[(index + 1)...].first { $0.component == alert.component }
            if next?.status == .resolved && !supersededIDs.contains(alert.id) {
                resolved += 1
            } else {
                superseded += 1
            }
        }
        self.total = total
        self.active = active.count
        self.resolved = resolved
        self.superseded = superseded
        self.bySeverity = bySeverity
        self.byComponent = byComponent
        self.alerts = windowed.reversed()
    }
}
