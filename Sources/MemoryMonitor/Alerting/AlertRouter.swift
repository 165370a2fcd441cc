/// The alert manager's decisions as a pure state machine: which alerts go out, to which
/// channels, which the rate limit holds back, and what is active. `AlertDispatcher` drives it
/// and carries out its actions; it does no I/O itself.
package struct AlertRouter: Sendable {
    /// What to do with one alert.
    package enum Action: Sendable, Equatable {
        /// Record it in the history (and the state directory) and queue it on these channels.
        case deliver(Alert, to: [AlertChannelID])
        /// A similar alert went out within the rate limit: count it, send nothing.
        case holdBack(RateLimitKey)
        /// Not sent now, for this reason (counted); the active alert is updated.
        case hold(Alert, reason: HoldReason)
    }

    /// Why an alert was not sent (`memory_alerts_suppressed_total{reason}`).
    package enum HoldReason: String, Sendable, CaseIterable {
        /// A similar alert (same component and severity) went out within the rate limit.
        case rateLimited = "rate_limited"
        /// The level fires again within the rate limit after it resolved or fell: the open alert
        /// is updated; it goes out when the window has passed and the level still holds.
        case refire
        /// The component changes level too often: one notice said so; quiet until it is stable.
        case flapping
        /// A resolve of a fire nobody was told of.
        case unannounced = "unannounced_resolve"
        /// An update (a leak alert's allocation sites) of an alert that is no longer the open one.
        case staleUpdate = "stale_update"
    }

    /// Sent alerts, oldest first, bounded by age and count.
    private(set) var history: [Alert] = []
    /// The firing alert per component (sent or held back).
    private(set) var active: [Component: Alert] = [:]
    /// Components whose receivers were told of a firing alert that has not been resolved.
    private var notified: Set<Component> = []
    /// What receivers last heard per component (a fire at a level, or a resolve).
    private var told: [Component: Alert] = [:]
    /// When each component changed level, within the flap window.
    private var changes: [Component: [Double]] = [:]
    /// Flapping components, and when each last changed level.
    private(set) var flapping: [Component: Double] = [:]
    /// The latest alert per component that was held (refire, flapping) and not yet told.
    package private(set) var held: [Component: Alert] = [:]
    /// Last time an alert was sent per component and severity.
    private var lastSent: [RateLimitKey: Double] = [:]
    /// Ids of firing alerts dropped from the active set by `supersede`.
    private(set) var superseded: Set<String> = []

    private(set) var rateLimitSeconds: Double
    private(set) var emergencyBypassesRateLimit: Bool
    private(set) var historySeconds: Double
    /// Channels per severity (custom handlers get every alert on top).
    private(set) var routes: [Severity: Set<AlertChannelID>]
    /// Level changes within `rateLimitSeconds` that make a component flapping.
    private(set) var flapThreshold: Int
    /// How long a flapping component must keep one level before it is told again.
    private(set) var flapStableSeconds: Double
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
        told = old.told
        changes = old.changes
        flapping = old.flapping
        held = old.held
        lastSent = old.lastSent
        superseded = old.superseded
    }

    package init(configuration: MonitorConfiguration.Alerting) {
        rateLimitSeconds = configuration.rateLimitSeconds
        emergencyBypassesRateLimit = configuration.emergencyBypassesRateLimit
        historySeconds = configuration.historyHours * 3600
        flapThreshold = configuration.flapThreshold
        flapStableSeconds = configuration.flapStableSeconds
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
    ///
    /// For a component with levels (not an event), in order:
    /// - flapping (it changed level more than `flapThreshold` times within `rateLimitSeconds`; a
    ///   fire at the open alert's level, such as a trend alert's new time, is no change):
    ///   one notice says so, then nothing until it has kept one level for `flapStableSeconds`;
    /// - a resolve goes out when its fire did;
    /// - a level that fires again within the window after it resolved or fell is held (the open
    ///   alert is updated), and goes out at a later `tick` if it still holds then;
    /// - an escalation to a level not sent within the window goes out at once, as does an
    ///   emergency while `send_immediate_alert` holds;
    /// - a similar alert (same component and severity) within the window is held back.
    package mutating func receive(_ alert: Alert, channels: [AlertChannelID]) -> Action {
        let key = RateLimitKey(alert)
        let component = alert.component
        guard !component.isEvent else {
            let bypass = alert.severity == .emergency && emergencyBypassesRateLimit
            if !bypass, let last = lastSent[key], alert.timestamp - last < rateLimitSeconds { return .holdBack(key) }
            return deliver(alert, channels: channels)
        }
        if alert.revision > 0 {
            // An update of the alert receivers were told of (same id, still firing): the same
            // alert better informed, not a new one; neither the rate limit nor flap control holds it.
            guard alert.status == .firing, let last = told[component], last.id == alert.id, last.status == .firing,
                active[component]?.id == alert.id
            else { return .hold(alert, reason: .staleUpdate) }
            active[component] = alert
            return deliver(alert, channels: channels)
        }
        let previous = active[component]
        if alert.status == .firing { active[component] = alert } else { active[component] = nil }
        let now = alert.timestamp
        // A fire at the level already open (a trend alert's new time) changes no level: it does
        // not count toward flapping, nor restart a flapping component's stable time.
        let changesLevel = !(alert.status == .firing && previous.map { $0.severity == alert.severity } == true)
        var recent = (changes[component] ?? []).filter { now - $0 < rateLimitSeconds }
        if changesLevel { recent.append(now) }
        changes[component] = recent
        if flapping[component] != nil {
            if changesLevel { flapping[component] = now }
            held[component] = alert
            return .hold(alert, reason: .flapping)
        }
        if rateLimitSeconds > 0 && changesLevel && recent.count > flapThreshold {
            flapping[component] = now
            held[component] = alert
            let notice = flappingNotice(alert, changes: recent.count)
            return deliver(notice, channels: channels)
        }
        if alert.status == .resolved {
            held[component] = nil
            guard notified.contains(component) else { return .hold(alert, reason: .unannounced) }
            return deliver(alert, channels: channels)
        }
        let sentRecently = lastSent[key].map { now - $0 < rateLimitSeconds } ?? false
        // Receivers were last told of a fire at this level (a fall since was held): nothing new,
        // unless the window has passed (a similar alert goes out again).
        let continues = told[component].map { $0.status == .firing && $0.severity == alert.severity } ?? false
        if continues {
            held[component] = nil
            return sentRecently ? .holdBack(key) : deliver(alert, channels: channels)
        }
        if sentRecently {
            held[component] = alert
            return .hold(alert, reason: .refire)
        }
        // A level not sent within the window: an escalation, an emergency, a fall, a new fire.
        held[component] = nil
        return deliver(alert, channels: channels)
    }

    /// Called at each check: a flapping component that kept one level for `flapStableSeconds`,
    /// and a held re-fire whose window has passed, go out now when receivers last heard
    /// something else.
    /// Whether a held alert or a flapping component waits for a `tick`.
    package var hasWaiting: Bool { !held.isEmpty || !flapping.isEmpty }

    package mutating func tick(now: Double, channels: [AlertChannelID]) -> [Action] {
        var actions: [Action] = []
        for (component, lastChange) in flapping where now - lastChange >= flapStableSeconds {
            flapping[component] = nil
            changes[component] = nil
            if let alert = held.removeValue(forKey: component), differsFromTold(alert) {
                actions.append(deliver(restamped(alert, at: now), channels: channels))
            }
        }
        for (component, alert) in held where flapping[component] == nil {
            guard let last = lastSent[RateLimitKey(alert)], now - last >= rateLimitSeconds else { continue }
            held[component] = nil
            if differsFromTold(alert) && (alert.status == .firing || notified.contains(component)) {
                actions.append(deliver(restamped(alert, at: now), channels: channels))
            }
        }
        return actions
    }

    /// Whether receivers last heard something other than this alert's status and level.
    private func differsFromTold(_ alert: Alert) -> Bool {
        guard let last = told[alert.component] else { return alert.status == .firing }
        return last.status != alert.status || (alert.status == .firing && last.severity != alert.severity)
    }

    /// The held alert as sent now (its time is when it goes out; its id stays).
    private func restamped(_ alert: Alert, at now: Double) -> Alert {
        var copy = alert
        copy.timestamp = now
        return copy
    }

    /// The one notice a flapping component gets: firing at the highest level it reached in the
    /// window (the open alert's id when one is open).
    private func flappingNotice(_ alert: Alert, changes: Int) -> Alert {
        var notice = alert.status == .firing ? alert : (told[alert.component] ?? alert)
        notice.status = .firing
        notice.timestamp = alert.timestamp
        let now = alert.status == .firing ? "now \(alert.severity)" : "now resolved"
        notice.message =
            "FLAPPING: \(alert.component.rawValue) changed level \(changes) times in \(Int(rateLimitSeconds)) s (\(now)); "
            + "further changes are held until it keeps one level for \(Int(flapStableSeconds)) s. Last: \(alert.message)"
        return notice
    }

    private mutating func deliver(_ alert: Alert, channels: [AlertChannelID]) -> Action {
        // The rate limit and the re-fire window count from fires (and events), not resolves.
        if alert.status == .firing { lastSent[RateLimitKey(alert)] = alert.timestamp }
        if !alert.component.isEvent {
            if alert.status == .firing { notified.insert(alert.component) } else { notified.remove(alert.component) }
            told[alert.component] = alert
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
            told[component] = nil
            held[component] = nil
            flapping[component] = nil
            changes[component] = nil
        }
    }

    /// Rebuilds the state from a recovered history (the state directory), oldest first.
    mutating func restore(_ recovered: [Alert]) {
        history = recovered
        for alert in recovered {
            if alert.status == .firing { lastSent[RateLimitKey(alert)] = alert.timestamp }
            guard !alert.component.isEvent else { continue }
            told[alert.component] = alert
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
