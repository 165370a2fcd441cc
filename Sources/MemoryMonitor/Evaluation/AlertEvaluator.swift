/// Turns samples into alerts: one `LevelTracker` per component, one alert per level change.
public struct AlertEvaluator: Sendable {
    private var trackers: [Component: LevelTracker]
    let policy: ThresholdPolicy
    let instance: String

    public init(policy: ThresholdPolicy, forChecks: Int, hysteresisPercent: Double, instance: String, levels: [Component: Severity] = [:]) {
        self.policy = policy
        self.instance = instance
        var trackers: [Component: LevelTracker] = [:]
        for component in Component.allCases {
            trackers[component] = LevelTracker(forChecks: forChecks, hysteresisPercent: hysteresisPercent, level: levels[component] ?? .healthy)
        }
        self.trackers = trackers
    }

    /// The level in force per component.
    public var levels: [Component: Severity] { trackers.mapValues(\.level) }

    /// Feeds a sample; returns an alert for every component whose level changed.
    public mutating func evaluate(_ sample: Sample) -> [Alert] {
        var alerts: [Alert] = []
        for component in Component.allCases {
            let value = ThresholdPolicy.value(of: component, in: sample)
            let before = trackers[component]!.level
            guard let after = trackers[component]!.update(value: value, bounds: policy.bounds(component)), let value else { continue }
            alerts.append(makeAlert(component: component, from: before, to: after, value: value, sample: sample))
        }
        return alerts
    }

    func makeAlert(component: Component, from before: Severity, to after: Severity, value: Double, sample: Sample) -> Alert {
        let bounds = policy.bounds(component)
        let resolved = after == .healthy
        let severity = resolved ? before : after
        let threshold = bounds.bound(for: severity)!
        let what: String
        switch component {
        case .processMemory: what = "Memory usage \(Self.format(value))MB"
        case .systemMemory: what = "Memory usage \(Self.format(value))% of the limit"
        case .swapMemory: what = "Swap usage \(Self.format(value))%"
        }
        let message: String
        if resolved {
            message = "RESOLVED: \(what) is back below the \(before) threshold"
        } else if after < before {
            message = "\(after.description.uppercased()): \(what) exceeds \(after) threshold (down from \(before))"
        } else {
            message = "\(after.description.uppercased()): \(what) exceeds \(after) threshold"
        }
        return Alert(
            id: Self.newID(), timestamp: sample.timestamp, severity: severity, component: component, status: resolved ? .resolved : .firing,
            memoryUsage: value, threshold: threshold, message: message, instance: instance, targetDescription: sample.targetDescription,
            targetPid: sample.process?.pid, targetName: sample.process?.status.name, percent: sample.memoryPercent,
            availableMB: Double(sample.limit.availableBytes) / 1_048_576)
    }

    static func format(_ v: Double) -> String {
        let r = v.roundedToTenth
        return r == r.rounded() ? "\(Int64(r)).0" : "\(r)"
    }

    static func newID() -> String {
        var generator = SystemRandomNumberGenerator()
        let a = generator.next() as UInt64
        let hex = String(a, radix: 16)
        return String(repeating: "0", count: 16 - hex.count) + hex
    }
}
