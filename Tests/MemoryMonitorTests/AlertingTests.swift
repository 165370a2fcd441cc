import Logging
import ServiceLifecycle
import Synchronization
import TestSupport
import Testing
@testable import MemoryMonitor

@Suite("Level tracking", .offCooperativePool)
struct LevelTrackerTests {
    let bounds = ThresholdPolicy.Bounds(warning: 1000, critical: 2000, emergency: 4000)

    @Test func hysteresisHoldsALevelUntilTheValueFallsByTheMargin() {
        var t = LevelTracker(forChecks: 1, hysteresisPercent: 5)
        #expect(t.update(value: 1100, bounds: bounds) == .warning)
        #expect(t.update(value: 990, bounds: bounds) == nil)  // below 1000 but above 950
        #expect(t.level == .warning)
        #expect(t.update(value: 1010, bounds: bounds) == nil)
        #expect(t.update(value: 949, bounds: bounds) == .healthy)
    }

    @Test func forChecksNeedsConsecutiveChecksAndRisesToTheLowestLevelSeen() {
        var t = LevelTracker(forChecks: 3, hysteresisPercent: 5)
        #expect(t.update(value: 2500, bounds: bounds) == nil)
        #expect(t.update(value: 900, bounds: bounds) == nil)  // the run is broken
        #expect(t.update(value: 2500, bounds: bounds) == nil)
        #expect(t.update(value: 1500, bounds: bounds) == nil)
        #expect(t.update(value: 2500, bounds: bounds) == .warning)
        #expect(t.pendingChecks == 0)
    }

    @Test func escalatesAtOnceAndDeEscalatesThroughTheMargin() {
        var t = LevelTracker(forChecks: 1, hysteresisPercent: 5)
        #expect(t.update(value: 1500, bounds: bounds) == .warning)
        #expect(t.update(value: 4500, bounds: bounds) == .emergency)
        #expect(t.update(value: 3900, bounds: bounds) == nil)  // within 5 % of 4000
        #expect(t.update(value: 3700, bounds: bounds) == .critical)
        #expect(t.update(value: 800, bounds: bounds) == .healthy)
    }

    @Test func anUnmeasuredValueHoldsTheLevel() {
        var t = LevelTracker(forChecks: 2, hysteresisPercent: 5, level: .critical)
        #expect(t.update(value: nil, bounds: bounds) == nil)
        #expect(t.level == .critical)
    }
}

/// A channel that records what it receives and fails or hangs as scripted.
final class ScriptedChannel: AlertChannel, @unchecked Sendable {
    enum Step { case succeed, failRetryable, failPermanently, hang }
    let id: AlertChannelID
    private let lock = Mutex<(steps: [Step], received: [Alert], attempts: Int)>(([], [], 0))

    init(name: String, steps: [Step] = []) {
        self.id = AlertChannelID(rawValue: name)
        lock.withLock { $0.steps = steps }
    }

    var received: [Alert] { lock.withLock { $0.received } }
    var attempts: Int { lock.withLock { $0.attempts } }

    func deliver(_ alert: Alert) async throws {
        let step = lock.withLock { s -> Step in
            s.attempts += 1
            return s.steps.isEmpty ? .succeed : s.steps.removeFirst()
        }
        switch step {
        case .succeed: lock.withLock { $0.received.append(alert) }
        case .failRetryable: throw DeliveryError(retryable: true, "HTTP 503")
        case .failPermanently: throw DeliveryError(retryable: false, "HTTP 400")
        case .hang: try await Task.sleep(for: .seconds(3600))
        }
    }
}

@Suite("Alert dispatch and delivery", .serialized, .offCooperativePool)
struct AlertDispatchTests {
    func configuration(_ edit: (inout MonitorConfiguration.Alerting) -> Void = { _ in }) -> MonitorConfiguration.Alerting {
        var a = MonitorConfiguration.Alerting()
        a.channels = ["warning": ["test"], "critical": ["test"], "emergency": ["test"]]
        a.deliveryTimeoutSeconds = 0.3
        a.shutdownGraceSeconds = 0.3
        edit(&a)
        return a
    }

    func alert(_ severity: Severity, _ status: Alert.Status = .firing, at t: Double, component: Component = .processMemory) -> Alert {
        Alert(
            id: AlertEvaluator.newID(), timestamp: t, severity: severity, component: component, status: status, memoryUsage: 1500,
            threshold: 1024, message: "\(severity.description.uppercased()): Memory usage 1500.0MB exceeds \(severity) threshold", instance: "test",
            targetDescription: "own process", targetPid: 1, targetName: "x", percent: 10, availableMB: 100)
    }

    /// Runs delivery in a service group for the test body, then shuts it down gracefully.
    func withDelivery(_ dispatcher: AlertDispatcher, _ body: () async throws -> Void) async throws {
        let group = ServiceGroup(services: [AlertDelivery(dispatcher: dispatcher, logger: Logger(label: "test"))], logger: Logger(label: "test"))
        try await withThrowingTaskGroup(of: Void.self) { tasks in
            tasks.addTask { try await group.run() }
            try await body()
            await group.triggerGracefulShutdown()
            try await tasks.waitForAll()
        }
    }


    @Test func rateLimitEscalationAndEmergencyBypass() async throws {
        let channel = ScriptedChannel(name: "test")
        let metrics = MonitorMetrics(thresholds: .init())
        var c = configuration()
        c.flapThreshold = 100  // the re-fire rule alone (flapping has its own test)
        let d = AlertDispatcher(configuration: c, channels: [channel], metrics: metrics, store: nil, logger: Logger(label: "t"))
        try await withDelivery(d) {
            d.dispatch([alert(.warning, at: 0)])  // sent
            d.dispatch([alert(.warning, .resolved, at: 10)])  // sent: receivers heard of the fire
            d.dispatch([alert(.warning, at: 20)])  // held: a re-fire within the window (the open alert is updated)
            d.dispatch([alert(.warning, .resolved, at: 30)])  // held: nobody heard of that fire
            d.dispatch([alert(.warning, at: 400)])  // sent: the window has passed
            d.dispatch([alert(.critical, at: 405)])  // escalation to a level not sent: sent
            d.dispatch([alert(.emergency, at: 406)])  // escalation: sent
            d.dispatch([alert(.emergency, .resolved, at: 407)])  // sent
            d.dispatch([alert(.emergency, at: 408)])  // held: an emergency re-fire 2 s after its first went out
            #expect(await poll { channel.received.count == 6 })
        }
        #expect(channel.received.map { "\($0.severity)/\($0.status.rawValue)" } == [
            "warning/firing", "warning/resolved", "warning/firing", "critical/firing", "emergency/firing", "emergency/resolved",
        ])
        #expect(metrics.alertsSent.value("warning") == 2)
        #expect(metrics.alertsSent.value("emergency") == 1)
        #expect(metrics.alertsSuppressed.value("refire") == 2)
        #expect(metrics.alertsSuppressed.value("unannounced_resolve") == 1)
        // The held emergency is the open alert, and goes out once the window has passed.
        #expect(d.activeAlerts.map(\.severity) == [.emergency])
        d.tick(now: 406 + 300)
        #expect(metrics.alertsSent.value("emergency") == 2)
        #expect(d.activeAlerts.map(\.severity) == [.emergency])
    }

    @Test func summaryCountsBySeverityAndComponent() async throws {
        let d = AlertDispatcher(configuration: configuration(), channels: [], metrics: MonitorMetrics(thresholds: .init()), store: nil, logger: Logger(label: "t"))
        let now = WallClock.now()
        d.dispatch([alert(.warning, at: now - 30, component: .systemMemory)])
        d.dispatch([alert(.critical, at: now - 20, component: .systemMemory)])
        d.dispatch([alert(.warning, at: now - 10, component: .swapMemory)])
        d.dispatch([alert(.warning, .resolved, at: now - 5, component: .swapMemory)])
        let s = d.summary(hours: 24)
        #expect(s.total == 3)
        #expect(s.active == 1)
        // The system_memory warning was superseded by the critical escalation, not resolved.
        #expect(s.resolved == 1)
        #expect(s.superseded == 1)
        #expect(s.bySeverity == ["warning": 2, "critical": 1])
        #expect(s.byComponent == ["system_memory": 2, "swap_memory": 1])
        #expect(s.alerts.count == 4)
        #expect(s.active == d.activeAlerts.count)
    }

    @Test func retriesThenDeliversOnce() async throws {
        let channel = ScriptedChannel(name: "test", steps: [.failRetryable, .failRetryable, .succeed])
        let metrics = MonitorMetrics(thresholds: .init())
        let d = AlertDispatcher(configuration: configuration(), channels: [channel], metrics: metrics, store: nil, logger: Logger(label: "t"))
        try await withDelivery(d) {
            d.dispatch([alert(.critical, at: 0)])
            #expect(await poll { channel.received.count == 1 })
        }
        #expect(channel.attempts == 3)
        #expect(metrics.alertDeliveryRetries.value("test") == 2)
        #expect(metrics.alertDeliveries.value("test", "failed") == 2)
        #expect(metrics.alertDeliveries.value("test", "delivered") == 1)
    }

    @Test func aPermanentFailureIsDroppedCountedAndTheQueueMovesOn() async throws {
        let channel = ScriptedChannel(name: "test", steps: [.failPermanently, .succeed])
        let metrics = MonitorMetrics(thresholds: .init())
        let d = AlertDispatcher(configuration: configuration(), channels: [channel], metrics: metrics, store: nil, logger: Logger(label: "t"))
        try await withDelivery(d) {
            d.dispatch([alert(.warning, at: 0), alert(.critical, at: 1)])
            #expect(await poll { channel.received.count == 1 })
        }
        #expect(channel.received.first?.severity == .critical)
        #expect(metrics.alertsDropped.value("test", "rejected") == 1)
    }

    @Test func aHungChannelTimesOutAndRetries() async throws {
        let channel = ScriptedChannel(name: "test", steps: [.hang, .succeed])
        let metrics = MonitorMetrics(thresholds: .init())
        let d = AlertDispatcher(configuration: configuration(), channels: [channel], metrics: metrics, store: nil, logger: Logger(label: "t"))
        try await withDelivery(d) {
            d.dispatch([alert(.warning, at: 0)])
            #expect(await poll { channel.received.count == 1 })
        }
        #expect(metrics.alertDeliveryRetries.value("test") == 1)
    }

    @Test func overflowDropsTheOldestAndCountsIt() async throws {
        let blocked = ScriptedChannel(name: "test", steps: [.hang, .hang, .hang, .hang, .hang, .hang])
        let metrics = MonitorMetrics(thresholds: .init())
        let d = AlertDispatcher(
            configuration: configuration { $0.queueCapacity = 2; $0.rateLimitSeconds = 0; $0.deliveryTimeoutSeconds = 60 }, channels: [blocked],
            metrics: metrics, store: nil, logger: Logger(label: "t"))
        try await withDelivery(d) {
            for i in 0..<5 { d.dispatch([alert(i % 2 == 0 ? .warning : .critical, at: Double(i))]) }
            #expect(await poll { metrics.alertsDropped.value("test", "queue_full") == 3 })
        }
        #expect(metrics.alertsDropped.value("test", "shutdown") == 2)
    }

    @Test func handlersThatThrowOrHangNeverBlockDispatch() async throws {
        let metrics = MonitorMetrics(thresholds: .init())
        let d = AlertDispatcher(configuration: configuration(), channels: [], metrics: metrics, store: nil, logger: Logger(label: "t"))
        let seen = Mutex<[String]>([])
        d.addHandler { _ in try await Task.sleep(for: .seconds(3600)) }
        d.addHandler { _ in throw DeliveryError(retryable: false, "handler failed") }
        d.addHandler { alert in seen.withLock { $0.append(alert.id) } }
        try await withDelivery(d) {
            let a = alert(.warning, at: 0)
            d.dispatch([a])  // returns at once: delivery is on the queues' tasks
            #expect(await poll { seen.withLock { $0 } == [a.id] })
            #expect(await poll { metrics.alertsDropped.value("handler-2", "rejected") == 1 })
        }
    }

    @Test func payloadHasTheSpecKeys() {
        let a = alert(.critical, at: 1_705_314_600)
        guard case .object(let o) = a.payload else { Issue.record("not an object"); return }
        for key in ["timestamp", "severity", "component", "memory_usage", "threshold", "message", "metadata", "status", "instance"] {
            #expect(o[key] != nil, "missing \(key)")
        }
        #expect(o["timestamp"] == "2024-01-15T10:30:00Z")
        #expect(o["metadata"] == ["percent": 10, "available_mb": 100])
        #expect(Alert(payload: a.storedPayload) == a)
    }

    @Test func evaluatorMessagesFollowTheSpec() {
        var evaluator = AlertEvaluator(policy: ThresholdPolicy(.init()), forChecks: 1, hysteresisPercent: 5, instance: "host-1")
        let status = ProcessStatus(name: "app", residentBytes: UInt64(2048.5 * 1_048_576))
        let sample = Sample.fixture(
            targetDescription: "own process", pid: 7, status: status, host: MemInfo(totalBytes: 100 << 30, availableBytes: 90 << 30))
        let alerts = evaluator.evaluate(sample).alerts
        #expect(alerts.count == 1)
        #expect(alerts.first?.message == "CRITICAL: Memory usage 2048.5MB exceeds critical threshold")
        #expect(alerts.first?.threshold == 2048)
        #expect(alerts.first?.instance == "host-1")
        #expect(alerts.first?.targetPid == 7)
    }
}

@Suite("State directory", .offCooperativePool)
struct AlertStateStoreTests {
    func tempDirectory() -> String { "/tmp/mm-state-\(AlertEvaluator.newID())" }

    @Test func pendingDeliveriesAndHistorySurviveAReopen() throws {
        let directory = tempDirectory()
        let a = Alert(
            id: "a1", timestamp: WallClock.now(), severity: .warning, component: .swapMemory, status: .firing, memoryUsage: 60, threshold: 50,
            message: "WARNING: Swap usage 60.0% exceeds warning threshold", instance: "h", targetDescription: "own process", targetPid: nil,
            targetName: nil, percent: 1, availableMB: 2)
        do {
            let store = try AlertStateStore(directory: directory, retentionSeconds: 86_400)
            store.recordSent(a)
            store.recordQueued(a, channel: "webhook")
            store.recordQueued(a, channel: "slack")
            store.recordDone(id: "a1", channel: "slack")
        }
        // A crash mid-write leaves a torn line; it is ignored.
        let fd = open(directory + "/alerts.journal", O_WRONLY | O_APPEND)
        _ = "{\"t\":\"done\",\"chan".withCString { write(fd, $0, strlen($0)) }
        close(fd)
        let reopened = try AlertStateStore(directory: directory, retentionSeconds: 86_400)
        #expect(reopened.recovered.history == [a])
        #expect(reopened.recovered.pending.map(\.channel) == ["webhook"])
        #expect(reopened.recovered.pending.first?.alert == a)
        // Compaction kept only what is needed.
        let again = try AlertStateStore(directory: directory, retentionSeconds: 86_400)
        #expect(again.recovered.pending.count == 1)
        let old = try AlertStateStore(directory: directory, retentionSeconds: -1)
        #expect(old.recovered.history.isEmpty)
        #expect(reopened.warnings.isEmpty, "a torn last line is not a warning")
    }

    func alert(_ id: String) -> Alert {
        Alert(
            id: id, timestamp: WallClock.now(), severity: .critical, component: .processMemory, status: .firing, memoryUsage: 60, threshold: 50,
            message: "CRITICAL", instance: "h", targetDescription: "own process", targetPid: nil, targetName: nil, percent: nil, availableMB: nil)
    }

    /// A journal that cannot be read is moved aside, never overwritten, and the start says so.
    @Test func anUnreadableJournalIsMovedAsideNotOverwritten() throws {
        let directory = tempDirectory()
        // A directory where the journal should be: open succeeds, read fails (EISDIR).
        FileSystem.makeDirectories(directory + "/alerts.journal")
        let store = try AlertStateStore(directory: directory, retentionSeconds: 86_400)
        #expect(store.warnings.count == 1)
        #expect(store.warnings.first?.contains("moved aside to \(directory)/alerts.journal.unread-") == true, "\(store.warnings)")
        let entries = try FileManagerLite.entries(directory)
        #expect(entries.contains { $0.hasPrefix("alerts.journal.unread-") })
    }

    @Test func anOversizedJournalIsMovedAside() throws {
        let directory = tempDirectory()
        let path = directory + "/alerts.journal"
        FileSystem.makeDirectories(directory)
        let fd = open(path, O_WRONLY | O_CREAT, 0o600)
        ftruncate(fd, off_t(AlertStateStore.maximumBytes + 1))
        close(fd)
        let store = try AlertStateStore(directory: directory, retentionSeconds: 86_400)
        #expect(store.warnings.first?.contains("over the 64 MiB") == true, "\(store.warnings)")
        #expect(try FileManagerLite.entries(directory).contains { $0.hasPrefix("alerts.journal.unread-") })
    }

    /// Each bad line is named; the others are replayed.
    @Test func badLinesAreNamedAndTheRestReplayed() throws {
        let directory = tempDirectory()
        do {
            let store = try AlertStateStore(directory: directory, retentionSeconds: 86_400)
            for i in 0..<6 { store.recordQueued(alert("a\(i)"), channel: "webhook") }
        }
        let path = directory + "/alerts.journal"
        var lines = (ProcFile.read(path) ?? "").split(separator: "\n").map(String.init)
        lines[2] = String(lines[2].prefix(lines[2].count / 2))
        lines[4] = "{\"t\":\"mystery\"}"
        let fd = open(path, O_WRONLY | O_TRUNC)
        let written = lines.joined(separator: "\n") + "\n"
        FileSystem.writeAll(fd, written)
        close(fd)
        let store = try AlertStateStore(directory: directory, retentionSeconds: 86_400)
        #expect(store.recovered.pending.map(\.alert.id) == ["a0", "a1", "a3", "a5"])
        #expect(store.warnings.count == 3)
        #expect(store.warnings.prefix(2) == ["\(path): line 3 skipped: not a JSON object with a \"t\" key", "\(path): line 5 skipped: unknown entry type"])
        // The bytes it could not read are kept, as they were, before the compaction drops them.
        let aside = try #require(try FileManagerLite.entries(directory).first { $0.hasPrefix("alerts.journal.corrupt-") })
        #expect(store.warnings.last == "\(path): the file as it was, with the lines skipped, is kept at \(directory)/\(aside)")
        #expect(ProcFile.read(directory + "/" + aside) == written)
        #expect(ProcFile.read(path)?.split(separator: "\n").count == 4)
    }

    /// The journal is compacted while running: it stays bounded however many alerts pass.
    @Test func theJournalIsCompactedWhileRunning() throws {
        let directory = tempDirectory()
        let store = try AlertStateStore(directory: directory, retentionSeconds: 86_400)
        for i in 0..<3000 {
            store.recordQueued(alert("b\(i)"), channel: "webhook")
            store.recordDone(id: "b\(i)", channel: "webhook")
        }
        store.recordQueued(alert("last"), channel: "webhook")
        #expect(store.lineCount <= 1001 + 2)
        let fileLines = (ProcFile.read(directory + "/alerts.journal", limit: 1 << 24) ?? "").split(separator: "\n").count
        #expect(fileLines == store.lineCount)
        let reopened = try AlertStateStore(directory: directory, retentionSeconds: 86_400)
        #expect(reopened.recovered.pending.map(\.alert.id) == ["last"])
    }
}

/// Directory listing without Foundation.
enum FileManagerLite {
    static func entries(_ directory: String) throws -> [String] {
        try ProcFile.directoryEntries(directory).get()
    }
}

#if canImport(Glibc)
import Glibc
#endif

import AsyncHTTPClient

@Suite("Secrets in delivery errors", .offCooperativePool)
struct DeliveryRedactionTests {
    @Test func errorsNeverCarryTheURLOrAHeaderValue() {
        let channel = HTTPAlertChannel(
            id: .webhook, url: "https://hooks.example/T000/B000/XXXXsecret", headers: ["Authorization": "Bearer tok-123"],
            body: AlertBodies.webhook, client: HTTPClient.shared)
        let text = channel.redacted("invalid header Bearer tok-123 for https://hooks.example/T000/B000/XXXXsecret (twice: Bearer tok-123)")
        #expect(!text.contains("tok-123") && !text.contains("XXXXsecret"))
        #expect(text == "invalid header <redacted> for <redacted> (twice: <redacted>)")
    }
}
