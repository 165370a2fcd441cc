/// One alert: a change of a component's level, as SPEC §7's payload describes it.
public struct Alert: Sendable, Equatable {
    /// firing (a level was entered) or resolved (back to healthy).
    public enum Status: String, Sendable { case firing, resolved }

    /// Unique per alert, stable across restarts (state directory).
    public var id: String
    /// Unix time the alert was raised.
    public var timestamp: Double
    /// The level entered; for a resolved alert, the level that cleared.
    public var severity: Severity
    public var component: Component
    public var status: Status
    /// The value judged, in the component's unit (MiB for process_memory, percent otherwise).
    public var memoryUsage: Double
    /// The threshold of `severity`, same unit.
    public var threshold: Double
    /// `CRITICAL: Memory usage 2048.5MB exceeds critical threshold`.
    public var message: String
    /// Where the monitor runs.
    public var instance: String
    /// The monitored process.
    public var targetDescription: String
    public var targetPid: Int32?
    public var targetName: String?
    /// SPEC §7 metadata: `percent`, `available_mb`.
    /// Nil when the limit was unknown at the time.
    public var percent: Double?
    public var availableMB: Double?
    /// `metadata.auto_response`: the actions this level runs, then what they did and reclaimed.
    public var autoResponse: JSONValue?
    /// The target's resident memory when the alert was raised, MiB: the SPEC's `memory_usage` for
    /// every component (for `process_memory` it is also `value`); nil when it was not read.
    public var residentMB: Double?
    /// Updates of the same alert sent since it fired (a leak alert that learned its allocation
    /// sites): each is delivered again under a delivery key of its own.
    public var revision = 0
    /// `metadata.leak_sites`: the top allocation sites of a `memory_leak` alert (issue 27).
    public var leakSites: JSONValue?

    /// The unit of `memoryUsage` and `threshold`.
    public var unit: String {
        switch component {
        case .processMemory: "MB"
        case .systemMemory, .swapMemory: "percent"
        case .target: "up"
        case .oom: "kills"
        case .memoryLeak: "MB/min"
        case .memoryTrend: "seconds"
        case .autoResponse: "restarts"
        }
    }

    /// The unit as text puts it after a number ("512.0 MB", "85.0%").
    public var unitSuffix: String { unit == "percent" ? "%" : unit == "seconds" ? " s" : " " + unit }

    /// The same for every delivery of this alert in this state, also after a crash re-sends it
    /// (delivery is at least once): receivers drop a key they have seen. `Idempotency-Key` header
    /// and `delivery_key` in the body.
    public var deliveryKey: String { revision == 0 ? "\(id)/\(status.rawValue)" : "\(id)/\(status.rawValue)/\(revision)" }

    /// The SPEC §7 JSON payload, plus `status`, `instance`, `id`, `delivery_key` and the target.
    public var payload: JSONValue {
        var metadata: JSONObject = [
            "percent": percent.map { .number(Self.round1($0)) } ?? .null,
            "available_mb": availableMB.map { .number(Self.round1($0)) } ?? .null,
        ]
        if let autoResponse { metadata["auto_response"] = autoResponse }
        if let leakSites { metadata["leak_sites"] = leakSites }
        return .object([
            "timestamp": .string(WallClock.rfc3339(timestamp)),
            "severity": .string(severity.description),
            "component": .string(component.rawValue),
            "memory_usage": (component == .processMemory ? memoryUsage : residentMB).map { .number(Self.round1($0)) } ?? .null,
            "value": .number(Self.round1(memoryUsage)),
            "threshold": .number(Self.round1(threshold)),
            "unit": .string(unit),
            "message": .string(message),
            "metadata": .object(metadata),
            "status": .string(status.rawValue),
            "instance": .string(instance),
            "id": .string(id),
            "delivery_key": .string(deliveryKey),
            "target": .object([
                "description": .string(targetDescription),
                "pid": targetPid.map { .number(Double($0)) } ?? .null,
                "name": targetName.map { .string($0) } ?? .null,
            ]),
        ])
    }

    /// Reads an alert back from its payload (the state directory).
    public init?(payload: JSONValue) {
        guard case .object(let o) = payload,
            case .string(let id) = o["id"], case .string(let severityText) = o["severity"],
            let severity = Severity.allCases.first(where: { $0.description == severityText }),
            case .string(let componentText) = o["component"], let component = Component(rawValue: componentText),
            case .string(let statusText) = o["status"], let status = Status(rawValue: statusText),
            case .number(let usage) = o["value"] ?? o["memory_usage"], case .number(let threshold) = o["threshold"],
            case .string(let message) = o["message"], case .string(let instance) = o["instance"],
            case .number(let epoch) = o["epoch"] ?? .null, WallClock.plausible.contains(epoch), usage.isFinite, threshold.isFinite
        else { return nil }
        var percent: Double?
        var available: Double?
        if case .object(let m) = o["metadata"] {
            if case .number(let p) = m["percent"] { percent = p }
            if case .number(let a) = m["available_mb"] { available = a }
        }
        var autoResponse: JSONValue?
        if case .object(let m) = o["metadata"], let value = m["auto_response"], value != .null { autoResponse = value }
        var description = ""
        var pid: Int32?
        var name: String?
        if case .object(let t) = o["target"] {
            if case .string(let d) = t["description"] { description = d }
            if case .number(let p) = t["pid"] {
                // Any number can be in a file: a pid is a positive 32-bit integer or the alert is not one this monitor wrote.
                guard let valid = Int32(exactly: p), valid > 0 else { return nil }
                pid = valid
            }
            if case .string(let n) = t["name"] { name = n }
        }
        self.init(
            id: id, timestamp: epoch, severity: severity, component: component, status: status, memoryUsage: usage, threshold: threshold,
            message: message, instance: instance, targetDescription: description, targetPid: pid, targetName: name, percent: percent,
            availableMB: available)
        self.autoResponse = autoResponse
        if case .number(let resident) = o["resident_mb"], resident.isFinite { residentMB = resident }
    }

    /// The payload with the exact epoch time, for the state directory.
    var storedPayload: JSONValue {
        guard case .object(var o) = payload else { return payload }
        o["epoch"] = .number(timestamp)
        if let residentMB { o["resident_mb"] = .number(residentMB) }
        return .object(o)
    }

    public init(
        id: String, timestamp: Double, severity: Severity, component: Component, status: Status, memoryUsage: Double, threshold: Double,
        message: String, instance: String, targetDescription: String, targetPid: Int32?, targetName: String?, percent: Double?,
        availableMB: Double?
    ) {
        self.id = id
        self.timestamp = timestamp
        self.severity = severity
        self.component = component
        self.status = status
        self.memoryUsage = memoryUsage
        self.threshold = threshold
        self.message = message
        self.instance = instance
        self.targetDescription = targetDescription
        self.targetPid = targetPid
        self.targetName = targetName
        self.percent = percent
        self.availableMB = availableMB
    }

    static func round1(_ v: Double) -> Double { v.roundedToTenth }

    /// "85.2% of the limit in use, 512.3 MB available", or that the limit is unknown.
    var memorySummary: String {
        guard let percent, let availableMB else { return "limit unknown" }
        return "\(Self.round1(percent))% of the limit in use, \(Self.round1(availableMB)) MB available"
    }
}
