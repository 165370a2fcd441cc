/// Which channel: the names configuration, metrics and the state directory use (`webhook`,
/// `handler-1`, ...), as a type rather than a bare string.
package struct AlertChannelID: RawRepresentable, Hashable, Sendable, Comparable, CustomStringConvertible {
    package var rawValue: String

    package init(rawValue: String) { self.rawValue = rawValue }

    /// The log (always configured).
    package static let log = AlertChannelID(rawValue: "log")
    /// The generic webhook (`alerting.webhook_url`).
    package static let webhook = AlertChannelID(rawValue: "webhook")
    /// Slack's incoming webhook.
    package static let slack = AlertChannelID(rawValue: "slack")
    /// SMTP.
    package static let email = AlertChannelID(rawValue: "email")
    /// Alertmanager's /api/v2/alerts.
    package static let alertmanager = AlertChannelID(rawValue: "alertmanager")

    /// The channels `alerting.alert_levels` may name.
    package static let configurable: [AlertChannelID] = [.log, .webhook, .slack, .email, .alertmanager]

    /// The n-th custom handler (SPEC §7 `add_handler`); handlers receive every alert.
    package static func handler(_ number: Int) -> AlertChannelID { AlertChannelID(rawValue: "handler-\(number)") }

    /// The channel `alerting.alert_levels` names this one by (`alertmanager-2` is routed as `alertmanager`).
    package var routedAs: AlertChannelID { rawValue.hasPrefix("alertmanager-") ? .alertmanager : self }

    /// True for an Alertmanager's channel.
    package var isAlertmanager: Bool { routedAs == .alertmanager }

    /// True for a custom handler's channel.
    package var isHandler: Bool { rawValue.hasPrefix("handler-") }

    package var description: String { rawValue }

    package static func < (a: AlertChannelID, b: AlertChannelID) -> Bool { a.rawValue < b.rawValue }
}

/// What rate limiting groups: "similar alerts" are the same component at the same severity.
package struct RateLimitKey: Hashable, Sendable {
    package var component: Component
    package var severity: Severity

    package init(_ alert: Alert) {
        component = alert.component
        severity = alert.severity
    }
}

/// Why an alert left a channel's queue without being delivered (`memory_alerts_dropped_total{reason}`).
package enum AlertDropReason: String, Sendable, CaseIterable {
    /// The queue was full: the oldest waiting alert made room.
    case queueFull = "queue_full"
    /// The receiver refused it for good (4xx, a permanent SMTP error).
    case rejected
    /// Still failing after `alerting.max_delivery_seconds`.
    case gaveUp = "gave_up"
    /// Undelivered at shutdown without a state directory.
    case shutdown
}

/// The result of one delivery attempt (`memory_alert_deliveries_total{result}`).
package enum DeliveryOutcome: String, Sendable {
    case delivered, failed
}
