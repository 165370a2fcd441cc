/// The `email` channel: one RFC 5322 message per alert, over SMTP with STARTTLS and AUTH.
struct EmailChannel: AlertChannel {
    let id = AlertChannelID.email
    let client: SMTPClient
    let from: String
    let recipients: [String]

    func deliver(_ alert: Alert) async throws {
        try await client.send(from: from, recipients: recipients, message: Self.message(alert, from: from, to: recipients))
    }

    /// The message: headers, a blank line, a plain-text body.
    static func message(_ alert: Alert, from: String, to recipients: [String]) -> String {
        let status = alert.status == .resolved ? " resolved" : ""
        // A header value is one line: control characters (a CR or LF from a process name) become spaces.
        let subject = String(
            String.UnicodeScalarView(
                "[\(alert.severity.description.uppercased())\(status)] \(alert.component.rawValue) on \(alert.instance): \(alert.message)"
                    .unicodeScalars.map { $0.properties.generalCategory == .control ? " " : $0 }))
        let body = """
            \(alert.message)

            Status:     \(alert.status.rawValue)
            Severity:   \(alert.severity)
            Component:  \(alert.component.rawValue)
            Usage:      \(Alert.round1(alert.memoryUsage))\(alert.unitSuffix) (threshold \(Alert.round1(alert.threshold))\(alert.unitSuffix))
            Memory:     \(alert.memorySummary)
            Instance:   \(alert.instance)
            Target:     \(alert.targetDescription)\(alert.targetPid.map { ", pid \($0)" } ?? "")\(alert.targetName.map { " (\($0))" } ?? "")
            Time:       \(WallClock.rfc3339(alert.timestamp))
            Alert id:   \(alert.id)

            -- memory-monitor
            """
        return [
            "Date: \(rfc5322Date(alert.timestamp))",
            "From: memory-monitor <\(from)>",
            "To: \(recipients.joined(separator: ", "))",
            "Subject: \(subject)",
            "Message-ID: <\(alert.id).\(Int64(alert.timestamp))@memory-monitor>",
            "MIME-Version: 1.0",
            "Content-Type: text/plain; charset=utf-8",
            "Content-Transfer-Encoding: 8bit",
            "X-Memory-Monitor-Severity: \(alert.severity)",
            "",
            body,
        ].joined(separator: "\r\n")
    }

    /// `Thu, 26 Nov 2026 15:00:00 +0000`.
    static func rfc5322Date(_ epoch: Double) -> String {
        let iso = WallClock.rfc3339(epoch)  // 2026-11-26T15:00:00Z
        let parts = iso.split(whereSeparator: { "-T:Z".contains($0) }).compactMap { Int($0) }
        let months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
        let days = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"]  // 1970-01-01 was a Thursday
        let weekday = days[Int(((Int64(epoch.rounded(.down)) / 86_400) % 7 + 7) % 7)]
        func two(_ v: Int) -> String { v < 10 ? "0\(v)" : "\(v)" }
        return "\(weekday), \(two(parts[2])) \(months[parts[1] - 1]) \(parts[0]) \(two(parts[3])):\(two(parts[4])):\(two(parts[5])) +0000"
    }
}
