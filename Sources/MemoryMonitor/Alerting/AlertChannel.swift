/// Somewhere alerts go: the log, a webhook, Slack, email, Alertmanager, a custom handler.
package protocol AlertChannel: Sendable {
    /// The channel's name in configuration, metrics and logs (`webhook`, `handler-1`, ...).
    var id: AlertChannelID { get }
    /// Delivers one alert or throws; a `DeliveryError` says whether trying again can help.
    func deliver(_ alert: Alert) async throws
}

/// Why a delivery failed. Anything else thrown counts as retryable (connection refused, reset...).
package struct DeliveryError: Error, CustomStringConvertible {
    /// Whether a later attempt may succeed (timeouts, 5xx, 429) or not (4xx, a rejected address).
    package var retryable: Bool
    package var message: String

    package init(retryable: Bool, _ message: String) {
        self.retryable = retryable
        self.message = message
    }

    package var description: String { message }

    /// The verdict for an HTTP status: 2xx is success (nil); 408, 429 and 5xx retry; other codes do not.
    package static func forHTTPStatus(_ code: UInt) -> DeliveryError? {
        switch code {
        case 200..<300: nil
        case 408, 429, 500..<600: DeliveryError(retryable: true, "HTTP \(code)")
        default: DeliveryError(retryable: false, "HTTP \(code)")
        }
    }
}

/// A custom handler (SPEC §7 `add_handler`) as a channel: it gets every alert.
struct HandlerChannel: AlertChannel {
    let id: AlertChannelID
    let handler: @Sendable (Alert) async throws -> Void

    func deliver(_ alert: Alert) async throws { try await handler(alert) }
}
