/// The alert manager's decisions as a pure state machine: which alerts go out, to which
/// channels, which the rate limit holds back, and what is active. `AlertDispatcher` drives it
/// and carries out its actions; it does no I/O itself.
struct AlertRouter: Sendable {
    /// What to do with one alert.
    enum Action: Sendable, Equatable {
        /// Record it in the history (and the state directory) and queue it on these channels.
        case deliver(Alert, to: [AlertChannelID])
        /// A similar alert went out within the rate limit: count it, send nothing.
        case holdBack(RateLimitKey)
    }

    /// Sent alerts, oldest first, bounded by age and count.
    private(set) var history: [Alert] = []
    /// The firing alert per component (sent or held back).
    private(set) var active: [Component: Alert] = [:]
    /// Components whose receivers were told of a firing alert that has not been resolved.
    private var notified: Set<Component> = []
    /// Last time an alert was sent per component and severity.
    private var lastSent: [RateLimitKey: Double] = [:]
    /// Ids of firing alerts dropped from the active set by `supersede`.
    private(set) var superseded: Set<String> = []

    private(set) var rateLimitSeconds: Double
    private(set) var emergencyBypassesRateLimit: Bool
    private(set) var historySeconds: Double
    /// Channels per severity (custom handlers get every alert on top).
    private(set) var routes: [Severity: Set<AlertChannelID>]
    static let maximumHistory = 10_000

    /// New rate limit and routes (SIGHUP); history, the active set and rate-limit clocks stay.
    mutating func reconfigure(_ configuration: MonitorConfiguration.Alerting) {
        self = AlertRouter(configuration: configuration, keeping: self)
    }

    private init(configuration: MonitorConfiguration.Alerting, keeping old: AlertRouter) {
        self.init(configuration: configuration)
        history = old.history
        active = old.active
        notified = old.notified
        lastSent = old.lastSent
        superseded = old.superseded
    }

    init(configuration: MonitorConfiguration.Alerting) {
        rateLimitSeconds = configuration.rateLimitSeconds
        emergencyBypassesRateLimit = configuration.emergencyBypassesRateLimit
        historySeconds = configuration.historyHours * 3600
        var routes: [Severity: Set<AlertChannelID>] = [:]
        for severity in Severity.alerting {
            routes[severity] = Set((configuration.channels[severity.description] ?? ["log"]).map(AlertChannelID.init(rawValue:)))
        }
        self.routes = routes
    }

    /// Sets `metadata.auto_response` of the alert `id` (active and in the history), or with no
    /// id of the active measured alerts at `severity`.
    mutating func annotate(id: String?, severity: Severity, autoResponse: JSONValue) {
        for (component, alert) in active where Component.measured.contains(component) && (id.map { alert.id == $0 } ?? (alert.severity == severity)) {
            active[component]?.autoResponse = autoResponse
        }
        if let id, let index = history.lastIndex(where: { $0.id == id }) { history[index].autoResponse = autoResponse }
    }

    /// Decides what happens to `alert`, given the channels that exist.
    mutating func receive(_ alert: Alert, channels: [AlertChannelID]) -> Action {
        let key = RateLimitKey(alert)
        let previous = active[alert.component]
        if !alert.component.isEvent {
            if alert.status == .firing { active[alert.component] = alert } else { active[alert.component] = nil }
        }
        let send: Bool
        if alert.status == .resolved {
            // Receivers hear of a resolve only if they heard of the fire.
            send = notified.contains(alert.component)
        } else if let previous, alert.severity > previous.severity {
            send = true  // escalation is never held back
        } else if alert.severity == .emergency && emergencyBypassesRateLimit {
            send = true
        } else if let last = lastSent[key], alert.timestamp - last < rateLimitSeconds {
            send = false
        } else {
            send = true
        }
        guard send else { return .holdBack(key) }
        lastSent[key] = alert.timestamp
        if !alert.component.isEvent {
            if alert.status == .firing { notified.insert(alert.component) } else { notified.remove(alert.component) }
        }
        append(alert)
        let wanted = routes[alert.severity] ?? [.log]
        return .deliver(alert, to: channels.filter { wanted.contains($0.routedAs) || $0.isHandler }.sorted())
    }

    /// Drops these components' firing alerts from the active set without a resolve.
    mutating func supersede(_ components: [Component]) {
        for component in components {
            if let alert = active.removeValue(forKey: component) { superseded.insert(alert.id) }
            notified.remove(component)
        }
    }

    /// Rebuilds the state from a recovered history (the state directory), oldest first.
    mutating func restore(_ recovered: [Alert]) {
        history = recovered
        for alert in recovered {
            lastSent[RateLimitKey(alert)] = alert.timestamp
            guard !alert.component.isEvent else { continue }
            if alert.status == .firing {
                active[alert.component] = alert
                notified.insert(alert.component)
            } else {
                active[alert.component] = nil
                notified.remove(alert.component)
            }
        }
    }

    private mutating func append(_ alert: Alert) {
        history.append(alert)
        let cutoff = alert.timestamp - historySeconds
        if history.count > Self.maximumHistory || (history.first.map { $0.timestamp < cutoff } ?? false) {
            history.removeAll { $0.timestamp < cutoff }
            if history.count > Self.maximumHistory { history.removeFirst(history.count - Self.maximumHistory) }
        }
    }
}
