import Logging
import Synchronization

/// The alert manager: hands each alert to `AlertRouter` (rate limits, routes, the active set,
/// the history) and carries out what it decides: journal, count, and queue on each channel.
/// `dispatch` never blocks: delivery runs on the queues' own tasks (`AlertDelivery`).
public final class AlertDispatcher: Sendable {
    struct State: Sendable {
        var router: AlertRouter
        var queues: [AlertChannelID: DeliveryQueue] = [:]
        var handlerCount = 0
    }

    let configuration: MonitorConfiguration.Alerting
    let metrics: MonitorMetrics
    let store: AlertStateStore?
    let logger: Logger
    private let state: Mutex<State>
    /// Every queue, as it is created; `AlertDelivery` runs a worker for each.
    let newQueues: AsyncStream<DeliveryQueue>
    private let newQueue: AsyncStream<DeliveryQueue>.Continuation

    /// A dispatcher over `channels` (each gets its queue). With a `store`, the history and pending
    /// deliveries it recovered are restored and the pending ones queued again.
    package init(
        configuration: MonitorConfiguration.Alerting, channels: [any AlertChannel], metrics: MonitorMetrics, store: AlertStateStore?,
        logger: Logger
    ) {
        self.configuration = configuration
        self.metrics = metrics
        self.store = store
        self.logger = logger
        (newQueues, newQueue) = AsyncStream.makeStream(of: DeliveryQueue.self)
        var queues: [AlertChannelID: DeliveryQueue] = [:]
        for channel in channels { queues[channel.id] = Self.makeQueue(channel, configuration, metrics, store, logger) }
        state = Mutex(State(router: AlertRouter(configuration: configuration), queues: queues))
        for queue in queues.values { newQueue.yield(queue) }
        if let recovered = store?.recovered { restore(recovered, queues: queues) }
    }

    private static func makeQueue(
        _ channel: any AlertChannel, _ configuration: MonitorConfiguration.Alerting, _ metrics: MonitorMetrics, _ store: AlertStateStore?,
        _ logger: Logger
    ) -> DeliveryQueue {
        DeliveryQueue(
            channel: channel,
            policy: .init(
                capacity: configuration.queueCapacity, attemptTimeout: configuration.deliveryTimeoutSeconds,
                maxDeliverySeconds: configuration.maxDeliverySeconds, maxBackoff: configuration.maxRetryIntervalSeconds),
            metrics: metrics, store: store, logger: logger)
    }

    private func restore(_ recovered: AlertStateStore.Recovered, queues: [AlertChannelID: DeliveryQueue]) {
        state.withLock { $0.router.restore(recovered.history) }
        for (channel, alert) in recovered.pending {
            let id = AlertChannelID(rawValue: channel)
            if let queue = queues[id] {
                queue.enqueue(alert, journal: false)
            } else {
                store?.recordDone(id: alert.id, channel: channel)
                logger.warning("undelivered alert for a channel no longer configured is dropped", metadata: ["channel": "\(channel)", "id": "\(alert.id)"])
                metrics.recordDrop(channel: id, reason: .rejected)
            }
        }
        if !recovered.pending.isEmpty {
            logger.info("undelivered alerts recovered from the state directory", metadata: ["count": "\(recovered.pending.count)"])
        }
    }

    /// The levels the recovered history left active, to seed the evaluator after a restart.
    package var restoredLevels: [Component: Severity] {
        state.withLock { $0.router.active.mapValues(\.severity) }
    }

    /// Adds a custom handler (SPEC §7): an async function that receives every alert on its own
    /// queue, with the same timeout, retries and drop accounting as every other channel.
    public func addHandler(_ handler: @escaping @Sendable (Alert) async throws -> Void) {
        let queue = state.withLock { s in
            s.handlerCount += 1
            let queue = Self.makeQueue(
                HandlerChannel(id: .handler(s.handlerCount), handler: handler), configuration, metrics, store, logger)
            s.queues[queue.channel.id] = queue
            return queue
        }
        newQueue.yield(queue)
    }

    /// Every channel's queue.
    var queues: [DeliveryQueue] { state.withLock { Array($0.queues.values) } }

    /// Ends `newQueues`: the delivery service stops its workers.
    func finishQueues() { newQueue.finish() }

    /// Rate-limits, records and queues alerts. Never blocks on delivery.
    package func dispatch(_ alerts: [Alert]) {
        for alert in alerts { dispatch(alert) }
    }

    private func dispatch(_ alert: Alert) {
        let (action, queues) = state.withLock { s in
            (s.router.receive(alert, channels: Array(s.queues.keys)), s.queues)
        }
        carryOut(action, queues: queues)
    }

    /// At each check (`now` is the sample's time): held alerts whose wait is over go out (a
    /// flapping component that became stable, a re-fire whose window passed).
    package func tick(now: Double) {
        // Nearly every check has nothing waiting: no channel list is built then.
        let due = state.withLock { s -> ([AlertRouter.Action], [AlertChannelID: DeliveryQueue])? in
            guard s.router.hasWaiting else { return nil }
            return (s.router.tick(now: now, channels: Array(s.queues.keys)), s.queues)
        }
        guard let (actions, queues) = due else { return }
        for action in actions { carryOut(action, queues: queues) }
    }

    private func carryOut(_ action: AlertRouter.Action, queues: [AlertChannelID: DeliveryQueue]) {
        switch action {
        case .hold(let alert, let reason):
            metrics.alertsSuppressed.increment(reason.rawValue)
            logger.debug("alert held", metadata: ["component": "\(alert.component.rawValue)", "severity": "\(alert.severity)", "reason": "\(reason.rawValue)"])
        case .holdBack(let key):
            metrics.alertsRateLimited.increment(key.component.rawValue, key.severity.description)
            metrics.alertsSuppressed.increment(AlertRouter.HoldReason.rateLimited.rawValue)
            logger.debug("alert held back by the rate limit", metadata: ["component": "\(key.component.rawValue)", "severity": "\(key.severity)"])
        case .deliver(let alert, let channels):
            store?.recordSent(alert)
            if alert.status == .firing { metrics.alertsSent.increment(alert.severity.description) }
            for channel in channels { queues[channel]?.enqueue(alert) }
        }
    }

    /// Drops these components' firing alerts from the active set without a "resolved" (the
    /// target vanished, so their values no longer describe anything); the summary counts them as
    /// superseded.
    package func supersede(_ components: [Component]) {
        guard !components.isEmpty else { return }
        state.withLock { $0.router.supersede(components) }
    }

    /// Takes new routes and rate limits (SIGHUP) keeping history, active alerts and queues.
    func reconfigure(_ configuration: MonitorConfiguration.Alerting) {
        state.withLock { $0.router.reconfigure(configuration) }
    }

    /// Records what the automatic response did in the alert that announced the level (or the
    /// active alerts at `severity`): `metadata.auto_response` in /health/alerts, and in the next
    /// re-send to Alertmanager while it is active.
    package func annotate(id: String?, severity: Severity, autoResponse: JSONValue) {
        state.withLock { $0.router.annotate(id: id, severity: severity, autoResponse: autoResponse) }
    }

    /// Queues a re-send of every active alert to the channel (Alertmanager expects them).
    func resendActive(to channel: AlertChannelID) {
        let (queue, alerts) = state.withLock { s in (s.queues[channel], Array(s.router.active.values)) }
        guard let queue else { return }
        for alert in alerts { queue.enqueue(alert, isRefresh: true) }
    }

    /// Queues a re-send of every active alert to every Alertmanager.
    func resendActiveToAlertmanagers() {
        let ids = state.withLock { Array($0.queues.keys) }.filter(\.isAlertmanager)
        for id in ids { resendActive(to: id) }
    }

    /// Alerts currently firing (including ones the rate limit held back).
    public var activeAlerts: [Alert] {
        state.withLock { Array($0.router.active.values) }.sorted { $0.component.rawValue < $1.component.rawValue }
    }

    /// The SPEC §4 summary of the last `hours`: what was sent, and what is active now.
    public func summary(hours: Double) -> AlertSummary {
        let cutoff = WallClock.now() - hours * 3600
        let (history, active, superseded) = state.withLock { s in (s.router.history, s.router.active, s.router.superseded) }
        return AlertSummary(hours: hours, history: history, since: cutoff, active: Array(active.values), superseded: superseded)
    }
}
