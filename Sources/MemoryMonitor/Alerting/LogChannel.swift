import Logging

/// The `log` channel: one structured line per alert, at a level matching its severity.
struct LogChannel: AlertChannel {
    let id = AlertChannelID.log
    let logger: Logger

    func deliver(_ alert: Alert) async throws {
        let level: Logger.Level
        switch (alert.status, alert.severity) {
        case (.resolved, _): level = .info
        case (_, .emergency): level = .critical
        case (_, .critical): level = .error
        default: level = .warning
        }
        logger.log(
            level: level, "\(alert.message)",
            metadata: [
                "alert": "\(alert.status.rawValue)", "severity": "\(alert.severity)", "component": "\(alert.component.rawValue)",
                "value": "\(Alert.round1(alert.memoryUsage))", "threshold": "\(Alert.round1(alert.threshold))", "unit": "\(alert.unit)",
                "instance": "\(alert.instance)", "id": "\(alert.id)",
            ])
    }
}
