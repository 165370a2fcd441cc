import Logging
import ServiceLifecycle

/// Runs every channel's delivery worker, and the periodic re-send to Alertmanager, until graceful
/// shutdown; then gives pending deliveries `alerting.shutdown_grace_seconds` before stopping.
/// What is still undelivered then stays in the state directory (or is counted as dropped without one).
public struct AlertDelivery: Service {
    let dispatcher: AlertDispatcher
    let logger: Logger

    public init(dispatcher: AlertDispatcher, logger: Logger) {
        self.dispatcher = dispatcher
        self.logger = logger
    }

    public func run() async {
        let dispatcher = self.dispatcher
        let logger = self.logger
        let configuration = dispatcher.configuration
        await withDiscardingTaskGroup { group in
            group.addTask {
                try? await gracefulShutdown()
                await Self.drain(dispatcher, grace: configuration.shutdownGraceSeconds, logger: logger)
                dispatcher.finishQueues()
            }
            if !configuration.alertmanagers.isEmpty {
                group.addTask {
                    while !Task.isCancelled && !Task.isShuttingDownGracefully {
                        do {
                            try await cancelWhenGracefulShutdown { try await Task.sleep(for: .seconds(configuration.alertmanagerResendSeconds)) }
                        } catch { return }
                        dispatcher.resendActiveToAlertmanagers()
                    }
                }
            }
            for await queue in dispatcher.newQueues {
                group.addTask { await queue.run() }
            }
            group.cancelAll()
        }
        let left = dispatcher.queues.reduce(0) { $0 + $1.depth }
        if left > 0 {
            if dispatcher.store != nil {
                logger.warning("undelivered alerts left in the state directory for the next start", metadata: ["count": "\(left)"])
            } else {
                for queue in dispatcher.queues where queue.depth > 0 {
                    dispatcher.metrics.recordDrop(channel: queue.channel.id, reason: .shutdown, count: queue.depth)
                }
                logger.error("undelivered alerts dropped at shutdown (no --state-dir)", metadata: ["count": "\(left)"])
            }
        }
        logger.info("alert delivery stopped")
    }

    /// Waits until every queue is empty or `grace` seconds pass, whichever comes first; true when emptied.
    @discardableResult
    static func drain(_ dispatcher: AlertDispatcher, grace: Double, logger: Logger) async -> Bool {
        let queues = dispatcher.queues
        return await withTaskGroup(of: Bool.self) { group in
            group.addTask {
                await withTaskGroup(of: Void.self) { each in
                    for queue in queues { each.addTask { await queue.waitUntilEmpty() } }
                }
                return true
            }
            group.addTask {
                try? await Task.sleep(for: .seconds(grace))
                return false
            }
            let emptied = await group.next() ?? false
            group.cancelAll()
            return emptied
        }
    }
}
