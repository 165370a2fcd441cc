import Logging
import Testing
@testable import MemoryMonitor
import TestSupport

/// The router as a pure state machine: one alert in, one action out.
@Suite("Alert routing", .offCooperativePool)
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

    /// A leak alert's update with its allocation sites (same id, revision 1) goes out within the
    /// rate limit, under a delivery key of its own; an update of an alert that is no longer the
    /// open one is dropped (stale_update), and a plain similar alert is still held back.
    @Test func anUpdateOfTheOpenAlertGoesOutAndAStaleOneDoesNot() {
        var r = router()
        let first = alert(.warning, at: 0, component: .memoryLeak)
        guard case .deliver = r.receive(first, channels: channels) else { Issue.record("first held"); return }
        var update = first
        update.timestamp = 60
        update.revision = 1
        update.leakSites = .array([["site": "app.py:12"]])
        guard case .deliver(let sent, _) = r.receive(update, channels: channels) else { Issue.record("update held"); return }
        #expect(sent.id == first.id && sent.deliveryKey == "\(first.id)/firing/1" && first.deliveryKey == "\(first.id)/firing")
        guard case .holdBack = r.receive(alert(.warning, at: 90, component: .memoryLeak), channels: channels) else {
            Issue.record("a similar alert was not held")
            return
        }
        // The episode ended; a late update of it is not sent.
        _ = r.receive(alert(.warning, .resolved, at: 400, component: .memoryLeak), channels: channels)
        var late = first
        late.timestamp = 401
        late.revision = 1
        guard case .hold(_, .staleUpdate) = r.receive(late, channels: channels) else { Issue.record("a stale update went out"); return }
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
        #expect(r.receive(again, channels: channels) == .hold(again, reason: .refire))
        #expect(r.active[.processMemory]?.id == again.id)
        // Past the limit it goes out again.
        guard case .deliver = r.receive(alert(.warning, at: 400), channels: channels) else { Issue.record("held back"); return }
    }

    @Test func escalationIsNeverHeldBackAndAResolveOnlyFollowsAFire() {
        var r = router()
        // A resolve for a fire nobody heard of is not sent.
        let unannounced = alert(.warning, .resolved, at: 0)
        #expect(r.receive(unannounced, channels: channels) == .hold(unannounced, reason: .unannounced))
        _ = r.receive(alert(.warning, at: 1), channels: channels)
        guard case .deliver = r.receive(alert(.critical, at: 2), channels: channels) else { Issue.record("escalation held back"); return }
        #expect(r.history.count == 2)
    }

    func router(rateLimit: Double, flapThreshold: Int, stable: Double) -> AlertRouter {
        var c = MonitorConfiguration.Alerting()
        c.rateLimitSeconds = rateLimit
        c.flapThreshold = flapThreshold
        c.flapStableSeconds = stable
        c.channels = ["warning": ["log"], "critical": ["log", "slack"], "emergency": ["log", "slack", "email"]]
        return AlertRouter(configuration: c)
    }

    /// The storm of the issue, replayed: a service crossing the thresholds every 5 s for 90 s
    /// (rate limit 30 s). Before flap control every escalation and every emergency went out.
    @Test func aFlappingServiceGetsOneNoticeThenQuietUntilStable() {
        var r = router(rateLimit: 30, flapThreshold: 4, stable: 60)
        let cycle: [(Severity, Alert.Status)] = [(.warning, .firing), (.critical, .firing), (.emergency, .firing), (.critical, .firing), (.warning, .firing), (.warning, .resolved)]
        var sent: [Alert] = []
        var held = 0
        var t = 0.0
        while t < 90 {
            let (severity, status) = cycle[Int(t / 5) % cycle.count]
            switch r.receive(alert(severity, status, at: t), channels: channels) {
            case .deliver(let a, _): sent.append(a)
            case .hold, .holdBack: held += 1
            }
            sent += r.tick(now: t, channels: channels).compactMap { if case .deliver(let a, _) = $0 { a } else { nil } }
            t += 5
        }
        let notices = sent.filter { $0.message.hasPrefix("FLAPPING") }
        #expect(notices.count == 1, "\(sent.map(\.message))")
        for severity in Severity.alerting {
            let fired = sent.filter { $0.status == .firing && $0.severity == severity }.count
            #expect(fired <= 2, "\(severity): \(fired) notifications in one flapping episode")
        }
        #expect(held >= 12)
        #expect(r.flapping[.processMemory] != nil)
        // Stable at critical: nothing until flap_stable_seconds have passed, then its state once.
        _ = r.receive(alert(.critical, at: 90), channels: channels)
        #expect(r.tick(now: 120, channels: channels).isEmpty)
        let after = r.tick(now: 150, channels: channels)
        guard case .deliver(let final, _) = after.first else { Issue.record("no state after the flapping ended: \(after)"); return }
        #expect(final.severity == .critical && final.status == .firing && after.count == 1)
        #expect(r.flapping.isEmpty)
        #expect(r.tick(now: 400, channels: channels).isEmpty)
    }

    /// A trend alert whose time is said again at every check near its crossing (a noisy leak:
    /// "in about 30 s (updated)" four times in 90 s, then the crossing) changes no level: no
    /// flapping notice. Before, each update counted as a change, and the fifth in the window
    /// sent "FLAPPING: memory_trend changed level 5 times" (4 of 80 seeds of the noisy leak).
    /// A trend alert that really opens and resolves over and over still flaps.
    @Test func aTrendAlertsNewTimesAreNoFlapping() {
        var r = router(rateLimit: 300, flapThreshold: 4, stable: 300)
        var sent: [Alert] = []
        func feed(_ a: Alert) {
            if case .deliver(let d, _) = r.receive(a, channels: channels) { sent.append(d) }
            sent += r.tick(now: a.timestamp, channels: channels).compactMap { if case .deliver(let d, _) = $0 { d } else { nil } }
        }
        for t in [0.0, 350, 380, 410, 440] { feed(alert(.warning, at: t, component: .memoryTrend)) }
        feed(alert(.warning, .resolved, at: 460, component: .memoryTrend))
        #expect(!sent.contains { $0.message.hasPrefix("FLAPPING") }, "\(sent.map(\.message))")
        #expect(r.flapping.isEmpty)
        #expect(sent.map(\.timestamp) == [0, 350, 460], "the first, the update after the rate limit, the resolve")

        var q = router(rateLimit: 300, flapThreshold: 4, stable: 300)
        var notices = 0
        for (i, t) in [0.0, 20, 40, 60, 80].enumerated() {
            if case .deliver(let d, _) = q.receive(alert(.warning, i % 2 == 0 ? .firing : .resolved, at: t, component: .memoryTrend), channels: channels),
                d.message.hasPrefix("FLAPPING")
            {
                notices += 1
            }
        }
        #expect(notices == 1 && q.flapping[.memoryTrend] != nil)
    }

    /// A level that fires again within the window after it resolved is held; the open alert is
    /// updated, and it goes out once the window has passed if it still holds.
    @Test func aRefireIsHeldAndGoesOutWhenTheWindowPasses() {
        var r = router(rateLimit: 300, flapThreshold: 4, stable: 300)
        guard case .deliver = r.receive(alert(.warning, at: 0), channels: channels) else { Issue.record("first fire held"); return }
        guard case .deliver = r.receive(alert(.warning, .resolved, at: 10), channels: channels) else { Issue.record("resolve held"); return }
        let again = alert(.warning, at: 20)
        #expect(r.receive(again, channels: channels) == .hold(again, reason: .refire))
        #expect(r.active[.processMemory]?.id == again.id)
        #expect(r.tick(now: 100, channels: channels).isEmpty)
        let later = r.tick(now: 301, channels: channels)
        guard case .deliver(let sent, _) = later.first else { Issue.record("the held re-fire never went out"); return }
        #expect(sent.id == again.id && sent.timestamp == 301)
        // Resolved again before the window passed: the held fire is dropped, nothing goes out.
        var q = router(rateLimit: 300, flapThreshold: 4, stable: 300)
        _ = q.receive(alert(.warning, at: 0), channels: channels)
        _ = q.receive(alert(.warning, .resolved, at: 10), channels: channels)
        _ = q.receive(alert(.warning, at: 20), channels: channels)
        if case .deliver = q.receive(alert(.warning, .resolved, at: 30), channels: channels) { Issue.record("a second resolve was sent") }
        #expect(q.tick(now: 400, channels: channels).isEmpty)
    }

    /// An escalation to a level not sent within the window goes out at once, even mid-flap-window.
    @Test func anEscalationToAnUnsentLevelGoesOutAtOnce() {
        var r = router(rateLimit: 300, flapThreshold: 10, stable: 300)
        _ = r.receive(alert(.warning, at: 0), channels: channels)
        guard case .deliver = r.receive(alert(.critical, at: 5), channels: channels) else { Issue.record("escalation held"); return }
        // Back to warning (sent at 0): held as a re-fire, the open alert updated.
        guard case .hold(_, .refire) = r.receive(alert(.warning, at: 10), channels: channels) else { Issue.record("de-escalation sent"); return }
        // Critical again: receivers still think critical (the fall was held), so nothing to tell;
        // emergency was never sent: out at once.
        if case .deliver = r.receive(alert(.critical, at: 15), channels: channels) { Issue.record("critical sent twice") }
        guard case .deliver(let e, _) = r.receive(alert(.emergency, at: 20), channels: channels) else { Issue.record("emergency held"); return }
        #expect(e.severity == .emergency)
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

@Suite("Alert delivery drain", .offCooperativePool)
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
