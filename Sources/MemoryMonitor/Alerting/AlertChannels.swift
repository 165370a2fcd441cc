import AsyncHTTPClient
import Logging

/// Builds the channels the configuration gives a destination to.
package enum AlertChannels {
    /// The channels, and a warning for each channel a level lists that has no destination.
    package static func make(_ a: MonitorConfiguration.Alerting, logger: Logger) -> (channels: [any AlertChannel], warnings: [String]) {
        let client = HTTPClient.shared
        var channels: [any AlertChannel] = [LogChannel(logger: logger)]
        var missing: [String: String] = [:]
        if let url = a.webhookURL {
            channels.append(HTTPAlertChannel(id: .webhook, url: url, headers: a.webhookHeaders, body: AlertBodies.webhook, client: client))
        } else {
            missing["webhook"] = "alerting.webhook_url"
        }
        if let url = a.slackWebhook {
            channels.append(HTTPAlertChannel(id: .slack, url: url, headers: [:], body: AlertBodies.slack, client: client))
        } else {
            missing["slack"] = "alerting.slack_webhook or SLACK_WEBHOOK_URL"
        }
        // One channel per Alertmanager (an HA cluster gets every alert on each), each with its own
        // queue, retries and drop accounting: `alertmanager`, `alertmanager-2`, ...
        for (index, base) in a.alertmanagers.enumerated() {
            let url = (base.hasSuffix("/") ? String(base.dropLast()) : base) + "/api/v2/alerts"
            let id = index == 0 ? AlertChannelID.alertmanager : AlertChannelID(rawValue: "alertmanager-\(index + 1)")
            let job = a.job
            let labels = a.externalLabels
            channels.append(
                HTTPAlertChannel(id: id, url: url, headers: [:], body: { AlertBodies.alertmanager($0, job: job, externalLabels: labels) }, client: client))
        }
        if a.alertmanagers.isEmpty { missing["alertmanager"] = "alerting.alertmanager_url or alertmanager_urls" }
        if let email = a.email, a.smtp.host != nil {
            let recipients = email.split(separator: ",").map { String($0.trimmingTabs) }.filter { !$0.isEmpty }
            channels.append(EmailChannel(client: SMTPClient(settings: a.smtp), from: a.smtp.from, recipients: recipients))
        } else {
            missing["email"] = "ALERT_EMAIL (or alerting.email) and alerting.smtp.host"
        }
        let warnings = a.explicitlyListedChannels.sorted().compactMap { name in
            missing[name].map { "alert channel \(name) is listed in alerting.alert_levels but has no destination: set \($0)" }
        }
        return (channels, warnings)
    }

    /// This host's name, the default `instance` of alerts.
    package static func hostName() -> String { SMTPClient.localName() }
}
