import AsyncHTTPClient
import NIOCore
import NIOHTTP1

/// An HTTP(S) channel that POSTs a JSON body built from each alert: the generic webhook, Slack
/// and Alertmanager differ only in URL, headers and body.
struct HTTPAlertChannel: AlertChannel {
    let id: AlertChannelID
    let url: String
    let headers: [String: String]
    let body: @Sendable (Alert) -> JSONValue
    let client: HTTPClient

    func deliver(_ alert: Alert) async throws {
        var request = HTTPClientRequest(url: url)
        request.method = .POST
        request.headers.add(name: "Content-Type", value: "application/json")
        request.headers.add(name: "User-Agent", value: "memory-monitor/\(MonitorMetrics.version)")
        request.headers.add(name: "Idempotency-Key", value: alert.deliveryKey)
        for (header, value) in headers { request.headers.add(name: header, value: value) }
        request.body = .bytes(ByteBuffer(string: body(alert).serialized))
        let response: HTTPClientResponse
        do {
            response = try await client.execute(request, timeout: .seconds(60))
        } catch {
            // Errors are logged: never let one carry the URL (Slack's path is a secret) or a header value.
            throw DeliveryError(retryable: true, "\(id): \(redacted("\(error)"))")
        }
        _ = try? await response.body.collect(upTo: 64 * 1024)
        if let failure = DeliveryError.forHTTPStatus(response.status.code) {
            throw DeliveryError(retryable: failure.retryable, "\(id): \(failure.message)")
        }
    }
}

extension HTTPAlertChannel {
    /// `text` with the URL and every header value replaced by `<redacted>`.
    func redacted(_ text: String) -> String {
        var out = text
        for secret in [url] + Array(headers.values) where secret.count >= 4 { out = out.replacingAll(secret, with: "<redacted>") }
        return out
    }
}

extension String {
    /// Every occurrence of `target` replaced (no Foundation).
    func replacingAll(_ target: String, with replacement: String) -> String {
        guard !target.isEmpty else { return self }
        var result = ""
        var rest = self[...]
        while let range = rest.firstRange(of: target) {
            result += rest[..<range.lowerBound]
            result += replacement
            rest = rest[range.upperBound...]
        }
        return result + rest
    }
}

/// The bodies each HTTP channel sends.
enum AlertBodies {
    /// The generic webhook: SPEC §7's payload.
    static func webhook(_ alert: Alert) -> JSONValue { alert.payload }

    /// Slack's control characters escaped (its formatting reference): a process name holding
    /// `<!channel>` must not notify a whole channel, nor `<url|text>` make a link.
    static func slackEscaped(_ text: String) -> String {
        var out = ""
        out.reserveCapacity(text.utf8.count)
        for character in text {
            switch character {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            default: out.append(character)
            }
        }
        return out
    }

    /// Slack incoming webhook: a coloured attachment that reads well on a phone. Every text that
    /// comes from the alert is escaped for Slack.
    static func slack(_ alert: Alert) -> JSONValue {
        let e = slackEscaped
        let resolved = alert.status == .resolved
        let color: String
        switch (resolved, alert.severity) {
        case (true, _): color = "#2eb67d"
        case (_, .emergency): color = "#8b0000"
        case (_, .critical): color = "#e01e5a"
        default: color = "#ecb22e"
        }
        let marker = resolved ? ":white_check_mark: RESOLVED" : (alert.severity == .warning ? ":warning:" : ":rotating_light:") + " " + alert.severity.description.uppercased()
        let title = "\(marker) · \(alert.component.rawValue) on \(e(alert.instance))"
        let usage = "\(Alert.round1(alert.memoryUsage))\(alert.unitSuffix) (threshold \(Alert.round1(alert.threshold))\(alert.unitSuffix))"
        let fields: [JSONValue] = [
            ["title": "Usage", "value": .string(usage), "short": true],
            ["title": "Memory", "value": .string(e(alert.memorySummary)), "short": true],
            ["title": "Target", "value": .string(e(alert.targetName.map { "\($0) (pid \(alert.targetPid.map(String.init) ?? "?"))" } ?? alert.targetDescription)), "short": true],
        ]
        return [
            "text": .string("\(title): \(e(alert.message))"),
            "attachments": [
                [
                    "color": .string(color), "title": .string(title), "text": .string(e(alert.message)), "fields": .array(fields),
                    "footer": "memory-monitor", "ts": .number(alert.timestamp.rounded(.down)),
                ]
            ],
        ]
    }

    /// The alertname Prometheus rules use for the same condition, so Alertmanager routes and
    /// inhibits both alike.
    static func alertname(_ component: Component, _ severity: Severity) -> String {
        let prefix: String
        switch component {
        case .processMemory: prefix = "MemoryProcess"
        case .systemMemory: prefix = "MemoryPercent"
        case .swapMemory: prefix = "MemorySwap"
        case .target: return "MemoryTargetGone"
        case .oom: return "MemoryOOMKill"
        case .memoryLeak: return "MemoryLeakSuspected"
        case .memoryTrend: return "MemoryTrendPredicted"
        case .autoResponse: return "MemoryAutoResponseRefused"
        }
        return prefix + severity.description.prefix(1).uppercased() + severity.description.dropFirst()
    }

    /// Alertmanager's /api/v2/alerts: the alert, and for a firing one, ends for the other levels of
    /// the same component (an escalation or de-escalation replaces the previous level's alert).
    static func alertmanager(_ alert: Alert, job: String, externalLabels: [String: String] = [:]) -> JSONValue {
        func entry(_ severity: Severity, ended: Bool) -> JSONValue {
            var labels: JSONObject = [:]
            for key in externalLabels.keys.sorted() { labels[key] = .string(externalLabels[key]!) }
            labels["alertname"] = .string(alertname(alert.component, severity))
            labels["severity"] = .string(severity.description)
            labels["component"] = .string(alert.component.rawValue)
            labels["instance"] = .string(alert.instance)
            labels["job"] = .string(job)
            var object: JSONObject = [
                "labels": .object(labels),
                "annotations": [
                    "summary": .string(alert.message),
                    "description": .string(
                        "\(alert.component.rawValue) at \(Alert.round1(alert.memoryUsage))\(alert.unitSuffix), \(severity) threshold \(Alert.round1(alert.threshold))\(alert.unitSuffix); target \(alert.targetDescription)"
                    ),
                ],
                "startsAt": .string(WallClock.rfc3339(alert.timestamp)),
            ]
            if let response = alert.autoResponse, severity == alert.severity, case .object(var annotations) = object["annotations"] {
                annotations["auto_response"] = .string(response.serialized)
                object["annotations"] = .object(annotations)
            }
            if let sites = alert.leakSites, case .object(var annotations) = object["annotations"] {
                annotations["leak_sites"] = .string(sites.serialized)
                object["annotations"] = .object(annotations)
            }
            if ended { object["endsAt"] = .string(WallClock.rfc3339(WallClock.now())) }
            return .object(object)
        }
        if alert.status == .resolved { return [entry(alert.severity, ended: true)] }
        var entries: [JSONValue] = [entry(alert.severity, ended: false)]
        for other in Severity.alerting where other != alert.severity { entries.append(entry(other, ended: true)) }
        return .array(entries)
    }
}
