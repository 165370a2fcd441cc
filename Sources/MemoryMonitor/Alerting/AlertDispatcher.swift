import Logging
import Synchronization

/// The alert manager: rate-limits alerts per component and severity, keeps the history, and hands
/// each alert to the queues of the channels its level lists. `dispatch` never blocks: delivery
/// runs on the queues' own tasks (`AlertDelivery`).
public final class AlertDispatcher: Sendable {
    struct State: Sendable {
        /// Sent alerts, oldest first, bounded by age and count.
        var history: [Alert] = []
        /// The firing alert per component (sent or held back).
        var active: [Component: Alert] = [:]
        /// Components whose receivers were told of a firing alert that has not been resolved.
        var notified: Set<Component> = []
        /// Last time an alert was sent per component and severity.
        var lastSent: [String: Double] = [:]
        var queues: [String: DeliveryQueue] = [:]
        var handlerCount = 0
        /// Ids of firing alerts that were dropped from the active set by `supersede`.
        var superseded: Set<String> = []
    }

    let configuration: MonitorConfiguration.Alerting
    let metrics: MonitorMetrics
    let store: AlertStateStore?
    let logger: Logger
    private let state = Mutex(State())
    static let maximumHistory = 10_000
    /// Every queue, as it is created; `AlertDelivery` runs a worker for each.
    let newQueues: AsyncStream<DeliveryQueue>
    private let newQueue: AsyncStream<DeliveryQueue>.Continuation

    /// A dispatcher over `channels` (each gets its queue). With a `store`, the history and pending
    /// deliveries it recovered are restored and the pending ones queued again.
    public init(
        configuration: MonitorConfiguration.Alerting, channels: [any AlertChannel], metrics: MonitorMetrics, store: AlertStateStore?,
        logger: Logger
    ) {
        self.configuration = configuration
        self.metrics = metrics
        self.store = store
        self.logger = logger
        (newQueues, newQueue) = AsyncStream.makeStream(of: DeliveryQueue.self)
        var queues: [String: DeliveryQueue] = [:]
        for channel in channels { queues[channel.name] = makeQueue(channel) }
        state.withLock { $0.queues = queues }
        for queue in queues.values { newQueue.yield(queue) }
        if let recovered = store?.recovered { restore(recovered, queues: queues) }
    }

    private func makeQueue(_ channel: any AlertChannel) -> DeliveryQueue {
        DeliveryQueue(
            channel: channel,
            policy: .init(
                capacity: configuration.queueCapacity, attemptTimeout: configuration.deliveryTimeoutSeconds,
                maxDeliverySeconds: configuration.maxDeliverySeconds, maxBackoff: configuration.maxRetryIntervalSeconds),
            metrics: metrics, store: store, logger: logger)
    }

    private func restore(_ recovered: AlertStateStore.Recovered, queues: [String: DeliveryQueue]) {
        state.withLock { s in
            s.history = recovered.history
            for alert in recovered.history {
                s.lastSent["\(alert.component.rawValue)/\(alert.severity)"] = alert.timestamp
                if alert.status == .firing {
                    s.active[alert.component] = alert
                    s.notified.insert(alert.component)
                } else {
                    s.active[alert.component] = nil
                    s.notified.remove(alert.component)
                }
            }
        }
        updateActiveGauge()
        for (channel, alert) in recovered.pending {
            if let queue = queues[channel] {
                queue.enqueue(alert, journal: false)
            } else {
                store?.recordDone(id: alert.id, channel: channel)
                logger.warning("undelivered alert for a channel no longer configured is dropped", metadata: ["channel": "\(channel)", "id": "\(alert.id)"])
                metrics.alertsDropped.increment(channel, "rejected")
            }
        }
        if !recovered.pending.isEmpty {
            logger.info("undelivered alerts recovered from the state directory", metadata: ["count": "\(recovered.pending.count)"])
        }
    }

    /// The levels the recovered history left active, to seed the evaluator after a restart.
    public var restoredLevels: [Component: Severity] {
        state.withLock { $0.active.mapValues(\.severity) }
    }

    /// Adds a custom handler (SPEC §7): an async function that receives every alert on its own
    /// queue, with the same timeout, retries and drop accounting as every other channel.
    public func addHandler(_ handler: @escaping @Sendable (Alert) async throws -> Void) {
        let queue = state.withLock { s in
            s.handlerCount += 1
            let queue = makeQueue(HandlerChannel(name: "handler-\(s.handlerCount)", handler: handler))
            s.queues[queue.channel.name] = queue
            return queue
        }
        newQueue.yield(queue)
    }

    /// Every channel's queue.
    var queues: [DeliveryQueue] { state.withLock { Array($0.queues.values) } }

    /// Ends `newQueues`: the delivery service stops its workers.
    func finishQueues() { newQueue.finish() }

    /// Rate-limits, records and queues alerts. Never blocks on delivery.
    public func dispatch(_ alerts: [Alert]) {
        for alert in alerts { dispatch(alert) }
    }

    private func dispatch(_ alert: Alert) {
        let key = "\(alert.component.rawValue)/\(alert.severity)"
        let decision = state.withLock { s -> (send: Bool, queues: [DeliveryQueue]) in
            let previous = s.active[alert.component]
            if alert.component.isEvent {
                // Something that happened: sent, never active.
            } else if alert.status == .firing {
                s.active[alert.component] = alert
            } else {
                s.active[alert.component] = nil
            }
            let send: Bool
            if alert.status == .resolved {
                // Receivers hear of a resolve only if they heard of the fire.
                send = s.notified.contains(alert.component)
            } else if let previous, alert.severity > previous.severity {
                send = true  // escalation is never held back
            } else if alert.severity == .emergency && configuration.emergencyBypassesRateLimit {
                send = true
            } else if let last = s.lastSent[key], alert.timestamp - last < configuration.rateLimitSeconds {
                send = false
            } else {
                send = true
            }
            guard send else { return (false, []) }
            s.lastSent[key] = alert.timestamp
            if alert.component.isEvent {
            } else if alert.status == .firing {
                s.notified.insert(alert.component)
            } else {
                s.notified.remove(alert.component)
            }
            s.history.append(alert)
            let cutoff = alert.timestamp - configuration.historyHours * 3600
            if s.history.count > Self.maximumHistory || (s.history.first.map { $0.timestamp < cutoff } ?? false) {
                s.history.removeAll { $0.timestamp < cutoff }
                if s.history.count > Self.maximumHistory { s.history.removeFirst(s.history.count - Self.maximumHistory) }
            }
            let names = Set(configuration.channels[alert.severity.description] ?? ["log"])
            let selected = s.queues.values.filter { names.contains($0.channel.name) || $0.channel.name.hasPrefix("handler-") }
            return (true, selected.sorted { $0.channel.name < $1.channel.name })
        }
        updateActiveGauge()
        guard decision.send else {
            metrics.alertsRateLimited.increment(alert.component.rawValue, alert.severity.description)
            logger.debug("alert held back by the rate limit", metadata: ["component": "\(alert.component.rawValue)", "severity": "\(alert.severity)"])
            return
        }
        store?.recordSent(alert)
        if alert.status == .firing { metrics.alertsSent.increment(alert.severity.description) }
        for queue in decision.queues { queue.enqueue(alert) }
    }

    /// Drops these components' firing alerts from the active set without a "resolved" (the
    /// target vanished, so their values no longer describe anything); the summary counts them as
    /// superseded.
    public func supersede(_ components: [Component], at timestamp: Double) {
        guard !components.isEmpty else { return }
        state.withLock { s in
            for component in components {
                if let alert = s.active.removeValue(forKey: component) { s.superseded.insert(alert.id) }
                s.notified.remove(component)
            }
        }
        updateActiveGauge()
    }

    /// Queues a re-send of every active alert to the named channel (Alertmanager expects them).
    func resendActive(to channelName: String) {
        let (queue, alerts) = state.withLock { s in (s.queues[channelName], Array(s.active.values)) }
        guard let queue else { return }
        for alert in alerts { queue.enqueue(alert, isRefresh: true) }
    }

    private func updateActiveGauge() {
        let active = state.withLock { $0.active }
        for component in Component.allCases where !component.isEvent {
            for severity in Severity.alerting {
                metrics.alertsActive.set(active[component]?.severity == severity ? 1 : 0, component.rawValue, severity.description)
            }
        }
    }

    /// Alerts currently firing.
    public var activeAlerts: [Alert] { state.withLock { Array($0.active.values) }.sorted { $0.component.rawValue < $1.component.rawValue } }

    /// The SPEC §4 summary of the last `hours`: what was sent, and what is active now.
    public func summary(hours: Double) -> AlertSummary {
        let cutoff = WallClock.now() - hours * 3600
        let (all, active, superseded) = state.withLock { s in (s.history, s.active, s.superseded) }
        return AlertSummary(hours: hours, history: all, since: cutoff, active: Array(active.values), superseded: superseded)
    }
}
