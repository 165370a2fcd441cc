import Logging
import Synchronization

/// One channel's bounded queue and its worker: attempts with a timeout, retries with exponential
/// backoff and jitter on retryable failures, drops (counted and logged) when the queue overflows,
/// when a failure cannot be retried, or when an alert has waited longer than allowed.
final class DeliveryQueue: Sendable {
    struct Item: Sendable {
        var alert: Alert
        var queuedAt: ContinuousClock.Instant
        /// A periodic re-send (Alertmanager): not journalled, skipped when the queue is busy.
        var isRefresh: Bool
    }

    struct Policy: Sendable {
        var capacity: Int
        var attemptTimeout: Double
        var maxDeliverySeconds: Double
        var maxBackoff: Double = 30
        var initialBackoff: Double = 0.5
    }

    let channel: any AlertChannel
    let policy: Policy
    private let items = Mutex<[Item]>([])
    // Waiters for an empty queue (`waitUntilEmpty`), by ticket, resumed when the last item leaves.
    private let emptyWaiters = Mutex<(next: Int, waiting: [Int: CheckedContinuation<Void, Never>])>((0, [:]))
    private let wakeups: AsyncStream<Void>
    private let wake: AsyncStream<Void>.Continuation
    private let metrics: MonitorMetrics
    private let store: AlertStateStore?
    private let logger: Logger

    init(channel: any AlertChannel, policy: Policy, metrics: MonitorMetrics, store: AlertStateStore?, logger: Logger) {
        self.channel = channel
        self.policy = policy
        self.metrics = metrics
        self.store = store
        self.logger = logger
        (wakeups, wake) = AsyncStream.makeStream(of: Void.self, bufferingPolicy: .bufferingNewest(1))
        metrics.alertQueueDepth.set(0, channel.id.rawValue)
    }

    /// Alerts waiting, including the one being attempted.
    var depth: Int { items.withLock { $0.count } }

    /// Queues an alert; never blocks. When full, the oldest waiting alert is dropped.
    func enqueue(_ alert: Alert, isRefresh: Bool = false, journal: Bool = true) {
        let (accepted, dropped, depth) = items.withLock { items -> (Bool, Item?, Int) in
            if isRefresh && !items.isEmpty { return (false, nil, items.count) }
            var dropped: Item?
            // Index 0 may be mid-attempt; drop the oldest after it.
            if items.count >= policy.capacity { dropped = items.remove(at: min(1, items.count - 1)) }
            items.append(Item(alert: alert, queuedAt: .now, isRefresh: isRefresh))
            return (true, dropped, items.count)
        }
        guard accepted else { return }
        if journal && !isRefresh { store?.recordQueued(alert, channel: channel.id.rawValue) }
        if let dropped { drop(dropped, reason: .queueFull, detail: "queue of \(policy.capacity) is full") }
        metrics.alertQueueDepth.set(Double(depth), channel.id.rawValue)
        wake.yield()
    }

    /// Delivers until cancelled.
    func run() async {
        for await _ in wakeups {
            while let item = items.withLock({ $0.first }) {
                if Task.isCancelled { return }
                let finished = await attempt(item)
                guard finished else { return }  // cancelled mid-retry: the item stays queued (and journalled)
                let depth = items.withLock { items -> Int in
                    if items.first?.alert.id == item.alert.id && items.first?.isRefresh == item.isRefresh { items.removeFirst() }
                    return items.count
                }
                metrics.alertQueueDepth.set(Double(depth), channel.id.rawValue)
                if depth == 0 { resumeEmptyWaiters() }
            }
        }
    }

    /// Returns when the queue is empty, or when the calling task is cancelled.
    func waitUntilEmpty() async {
        let ticket = emptyWaiters.withLock { w -> Int in
            w.next += 1
            return w.next
        }
        await withTaskCancellationHandler {
            await withCheckedContinuation { continuation in
                let resumeNow = emptyWaiters.withLock { w -> Bool in
                    if depth == 0 || Task.isCancelled { return true }
                    w.waiting[ticket] = continuation
                    return false
                }
                if resumeNow { continuation.resume() }
            }
        } onCancel: {
            emptyWaiters.withLock { $0.waiting.removeValue(forKey: ticket) }?.resume()
        }
    }

    private func resumeEmptyWaiters() {
        let waiting = emptyWaiters.withLock { w -> [CheckedContinuation<Void, Never>] in
            defer { w.waiting = [:] }
            return Array(w.waiting.values)
        }
        for continuation in waiting { continuation.resume() }
    }

    /// Tries one item until it is delivered or dropped; false when cancelled first.
    private func attempt(_ item: Item) async -> Bool {
        var backoff = policy.initialBackoff
        var attempts = 0
        while true {
            attempts += 1
            let channel = self.channel
            let alert = item.alert
            do {
                try await withTimeout(seconds: policy.attemptTimeout) { try await channel.deliver(alert) }
                metrics.recordDelivery(channel: channel.id, outcome: .delivered)
                if !item.isRefresh { store?.recordDone(id: alert.id, channel: channel.id.rawValue) }
                if attempts > 1 {
                    logger.info("alert delivered after retries", metadata: ["channel": "\(channel.id)", "id": "\(alert.id)", "attempts": "\(attempts)"])
                }
                return true
            } catch is CancellationError {
                return false
            } catch {
                if Task.isCancelled { return false }
                metrics.recordDelivery(channel: channel.id, outcome: .failed)
                let retryable = (error as? DeliveryError)?.retryable ?? true
                let waited = (ContinuousClock.now - item.queuedAt).seconds
                if !retryable {
                    drop(item, reason: .rejected, detail: "\(error)")
                    return true
                }
                if waited + backoff > policy.maxDeliverySeconds {
                    drop(item, reason: .gaveUp, detail: "still failing after \(Int(waited)) s: \(error)")
                    return true
                }
                metrics.alertDeliveryRetries.increment(channel.id.rawValue)
                logger.warning(
                    "alert delivery failed, will retry",
                    metadata: ["channel": "\(channel.id)", "id": "\(alert.id)", "attempt": "\(attempts)", "error": "\(error)"])
                let jittered = backoff * Double.random(in: 0.5...1.0)
                do { try await Task.sleep(for: .seconds(jittered)) } catch { return false }
                backoff = min(backoff * 2, policy.maxBackoff)
            }
        }
    }

    private func drop(_ item: Item, reason: AlertDropReason, detail: String) {
        guard !item.isRefresh else { return }
        metrics.recordDrop(channel: channel.id, reason: reason)
        store?.recordDone(id: item.alert.id, channel: channel.id.rawValue)
        logger.error(
            "alert dropped",
            metadata: [
                "channel": "\(channel.id)", "id": "\(item.alert.id)", "reason": "\(reason.rawValue)", "detail": "\(detail)",
                "severity": "\(item.alert.severity)", "component": "\(item.alert.component.rawValue)",
            ])
    }

    /// Stops waiting for work: `run()` returns once the current item is done.
    func finish() { wake.finish() }
}
