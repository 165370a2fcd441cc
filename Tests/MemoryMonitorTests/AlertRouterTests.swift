import Logging
import Testing
@testable import MemoryMonitor

/// The router as a pure state machine: one alert in, one action out.
@Suite("Alert routing")
struct AlertRouterTests {
    func alert(_ severity: Severity, _ status: Alert.Status = .firing, at t: Double, component: Component = .processMemory) -> Alert {
        Alert(
            id: AlertEvaluator.newID(), timestamp: t, severity: severity, component: component, status: status, memoryUsage: 1, threshold: 1,
            message: "m", instance: "i", targetDescription: "own process", targetPid: 1, targetName: "x", percent: nil, availableMB: nil)
    }

    func router(rateLimit: Double = 300) -> AlertRouter {
        var c = MonitorConfiguration.Alerting()
        c.rateLimitSeconds = rateLimit
        c.channels = ["warning": ["log"], "critical": ["log", "slack"], "emergency": ["log", "slack", "email"]]
        return AlertRouter(configuration: c)
    }

    let channels: [AlertChannelID] = [.log, .slack, .email, .webhook, .handler(1)]

    @Test(arguments: [
        (Severity.warning, [AlertChannelID.handler(1), .log]),
        (.critical, [.handler(1), .log, .slack]),
        (.emergency, [.email, .handler(1), .log, .slack]),
    ])
    func routesBySeverityAndHandlersGetEverything(_ severity: Severity, _ expected: [AlertChannelID]) {
        var r = router()
        guard case .deliver(_, let to) = r.receive(alert(severity, at: 0), channels: channels) else { Issue.record("held back"); return }
        #expect(to == expected)
    }

    /// Several Alertmanagers (alerting.alertmanager_urls): each gets what `alertmanager` is routed.
    @Test func everyAlertmanagerOfAClusterGetsTheAlert() {
        var c = MonitorConfiguration.Alerting()
        c.channels = ["warning": ["log", "alertmanager"]]
        var r = AlertRouter(configuration: c)
        let cluster: [AlertChannelID] = [.log, .webhook, .alertmanager, AlertChannelID(rawValue: "alertmanager-2"), AlertChannelID(rawValue: "alertmanager-3")]
        guard case .deliver(_, let to) = r.receive(alert(.warning, at: 0), channels: cluster) else { Issue.record("held back"); return }
        #expect(to.map(\.rawValue) == ["alertmanager", "alertmanager-2", "alertmanager-3", "log"])
        // And the channels are built one per URL, with the job and external labels.
        var a = MonitorConfiguration.Alerting()
        a.alertmanagerURL = "http://127.0.0.1:1"
        a.alertmanagerURLs = ["http://127.0.0.1:2", "http://127.0.0.1:1"]
        #expect(a.alertmanagers == ["http://127.0.0.1:1", "http://127.0.0.1:2"])
        let built = AlertChannels.make(a, logger: Logger(label: "t")).channels.map(\.id.rawValue)
        #expect(built.contains("alertmanager") && built.contains("alertmanager-2") && !built.contains("alertmanager-3"))
        guard case .array(let entries) = AlertBodies.alertmanager(alert(.warning, at: 0), job: "j", externalLabels: ["monitor": "m", "cluster": "c"]),
            case .object(let first) = entries.first, case .object(let labels) = first["labels"]
        else { Issue.record("no labels"); return }
        #expect(labels["job"] == .string("j") && labels["monitor"] == .string("m") && labels["cluster"] == .string("c"))
    }

    @Test func similarAlertsAreHeldBackButStayActive() {
        var r = router()
        _ = r.receive(alert(.warning, at: 0), channels: channels)
        _ = r.receive(alert(.warning, .resolved, at: 10), channels: channels)
        let again = alert(.warning, at: 20)
        #expect(r.receive(again, channels: channels) == .holdBack(RateLimitKey(again)))
        #expect(r.active[.processMemory]?.id == again.id)
        // Past the limit it goes out again.
        guard case .deliver = r.receive(alert(.warning, at: 400), channels: channels) else { Issue.record("held back"); return }
    }

    @Test func escalationIsNeverHeldBackAndAResolveOnlyFollowsAFire() {
        var r = router()
        // A resolve for a fire nobody heard of is not sent.
        #expect(r.receive(alert(.warning, .resolved, at: 0), channels: channels) == .holdBack(RateLimitKey(alert(.warning, .resolved, at: 0))))
        _ = r.receive(alert(.warning, at: 1), channels: channels)
        guard case .deliver = r.receive(alert(.critical, at: 2), channels: channels) else { Issue.record("escalation held back"); return }
        #expect(r.history.count == 2)
    }

    @Test func eventsAreNeverActive() {
        var r = router()
        _ = r.receive(alert(.emergency, at: 0, component: .oom), channels: channels)
        #expect(r.active.isEmpty)
        #expect(r.history.count == 1)
    }

    @Test func supersedeRemovesWithoutResolving() {
        var r = router()
        let fired = alert(.critical, at: 0, component: .systemMemory)
        _ = r.receive(fired, channels: channels)
        r.supersede([.systemMemory])
        #expect(r.active.isEmpty)
        #expect(r.superseded == [fired.id])
        // Its later resolve is not sent: receivers were not left with a firing alert to clear.
        #expect(r.history.count == 1)
    }
}

@Suite("Alert delivery drain")
struct DrainTests {
    /// Shutdown drains by awaiting the queues, and returns as soon as they are empty.
    @Test func drainReturnsWhenQueuesEmpty() async throws {
        let channel = ScriptedChannel(name: "test")
        var c = MonitorConfiguration.Alerting()
        c.channels = ["warning": ["test"]]
        let d = AlertDispatcher(configuration: c, channels: [channel], metrics: MonitorMetrics(thresholds: .init()), store: nil, logger: Logger(label: "t"))
        let worker = Task { for await queue in d.newQueues { Task { await queue.run() } } }
        d.dispatch([
            Alert(id: "a", timestamp: 0, severity: .warning, component: .swapMemory, status: .firing, memoryUsage: 1, threshold: 1, message: "m",
                  instance: "i", targetDescription: "t", targetPid: nil, targetName: nil, percent: nil, availableMB: nil)
        ])
        // Emptied, not timed out: the drain awaited the queue rather than its 30 s grace.
        #expect(await AlertDelivery.drain(d, grace: 30, logger: Logger(label: "t")))
        #expect(channel.received.count == 1)
        d.finishQueues()
        worker.cancel()
    }
}
