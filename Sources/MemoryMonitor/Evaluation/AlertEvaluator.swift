/// Turns samples into alerts: one `LevelTracker` per measured component, one alert per level
/// change; a vanished target and new OOM kills are alerts of their own.
package struct AlertEvaluator: Sendable {
    /// What one sample changed.
    package struct Outcome: Sendable {
        /// Alerts to dispatch.
        package var alerts: [Alert] = []
        /// Components whose firing alert no longer applies without being resolved (the target
        /// vanished): the dispatcher drops them from the active set and counts them as superseded.
        package var superseded: [Component] = []
        /// Growth rate, leak state and predictions from this check; nil without growth tracking.
        package var growth: GrowthTracker.Analysis?
        /// A leak episode started at this check (`memory_leaks_detected_total` counts it).
        package var leakStarted = false
    }

    private var trackers: [Component: LevelTracker]
    /// True while a `target` alert is firing.
    package private(set) var targetGone = false
    private(set) var policy: ThresholdPolicy
    let instance: String
    private var growth: GrowthTracker?
    private(set) var leakSeverity: Severity
    /// Severity of the `target` alert.
    static let targetGoneSeverity = Severity.critical

    /// - Parameters:
    ///   - growth: leak detection and prediction; nil leaves them out.
    ///   - leakSeverity: the severity of `memory_leak` alerts.
    package init(
        policy: ThresholdPolicy, forChecks: Int, hysteresisPercent: Double, instance: String, levels: [Component: Severity] = [:],
        growth: GrowthTracker? = nil, leakSeverity: Severity = .warning
    ) {
        self.policy = policy
        self.instance = instance
        self.growth = growth
        self.leakSeverity = leakSeverity
        var trackers: [Component: LevelTracker] = [:]
        for component in Component.measured {
            trackers[component] = LevelTracker(forChecks: forChecks, hysteresisPercent: hysteresisPercent, level: levels[component] ?? .healthy)
        }
        self.trackers = trackers
        self.targetGone = levels[.target] != nil && levels[.target] != .healthy
    }

    /// The level in force per measured component, plus `target` while the target is gone.
    package var levels: [Component: Severity] {
        var levels = trackers.mapValues(\.level)
        if targetGone { levels[.target] = Self.targetGoneSeverity }
        return levels
    }

    /// Takes new thresholds and rules and keeps every level, pending count and alert in force
    /// (SIGHUP). With `history` (growth settings changed), a new growth tracker is filled from
    /// it, so its window is not lost.
    package mutating func reconfigure(_ c: MonitorConfiguration, history: [SampleHistory.Entry]?) {
        policy = ThresholdPolicy(c.thresholds)
        leakSeverity = c.monitoring.leakDetection.severity
        for component in Array(trackers.keys) {
            trackers[component]?.forChecks = c.alerting.forChecks
            trackers[component]?.hysteresisPercent = c.alerting.hysteresisPercent
        }
        if growth != nil, let history {
            var tracker = GrowthTracker(configuration: c)
            tracker.restore(history)
            growth = tracker
        }
    }

    /// Hands history from before a restart to the growth tracker.
    package mutating func restoreGrowth(_ entries: [SampleHistory.Entry]) {
        growth?.restore(entries)
    }

    /// Feeds a sample; returns the alerts it raises and the alerts it supersedes.
    package mutating func evaluate(_ sample: Sample) -> Outcome {
        var outcome = Outcome()
        if case .gone(let reason) = sample.targetState {
            if !targetGone {
                targetGone = true
                outcome.alerts.append(
                    makeEventAlert(
                        component: .target, severity: Self.targetGoneSeverity, status: .firing, value: 0, threshold: 1,
                        message: "\(Self.targetGoneSeverity.description.uppercased()): monitored process is gone (\(sample.targetDescription)): \(reason)",
                        sample: sample))
                // Its levels no longer describe anything: reset them without a "resolved".
                for component in Component.measured where component.followsTarget && trackers[component]?.level != .healthy {
                    outcome.superseded.append(component)
                    trackers[component]?.reset()
                }
                for event in growth?.reset() ?? [] {
                    switch event {
                    case .leakEnded, .leakStarted: outcome.superseded.append(.memoryLeak)
                    case .trendEnded, .trendStarted, .trendUpdated: outcome.superseded.append(.memoryTrend)
                    }
                }
            }
        } else if case .up = sample.targetState, targetGone {
            targetGone = false
            outcome.alerts.append(
                makeEventAlert(
                    component: .target, severity: Self.targetGoneSeverity, status: .resolved, value: 1, threshold: 1,
                    message: "RESOLVED: monitored process is back (\(sample.targetDescription), pid \(sample.process?.pid ?? 0))", sample: sample))
        }
        if sample.newOOMKills > 0 {
            outcome.alerts.append(
                makeEventAlert(
                    component: .oom, severity: .emergency, status: .firing, value: Double(sample.newOOMKills), threshold: 1,
                    message: "EMERGENCY: the OOM killer killed \(sample.newOOMKills) process(es) in the target's cgroup \(sample.cgroupDirectory ?? "(last known)")",
                    sample: sample))
        }
        for component in Component.measured {
            // nil: not measured this time (unknown, or target gone): the level holds.
            let value = targetGone && component.followsTarget ? nil : ThresholdPolicy.value(of: component, in: sample)
            guard var tracker = trackers[component] else { continue }
            let before = tracker.level
            let after = tracker.update(value: value, bounds: policy.bounds(component))
            trackers[component] = tracker
            guard let after, let value else { continue }
            outcome.alerts.append(makeAlert(component: component, from: before, to: after, value: value, sample: sample))
        }
        // Mutated in place (`growth!`): a copy would make the tracker copy its slope arrays.
        if growth != nil {
            var events: [GrowthTracker.Event] = []
            // A new process is a new series; a group whose members come and go is the same one.
            if sample.targetChanged && !sample.targetIsGroup { events += growth!.reset() }
            if case .up = sample.targetState {
                let (analysis, observed) = growth!.observe(sample, level: trackers[.processMemory]?.level ?? .healthy)
                outcome.growth = analysis
                events += observed
            }
            for event in events { outcome.alerts.append(growthAlert(event, sample: sample, outcome: &outcome)) }
        }
        return outcome
    }

    private func growthAlert(_ event: GrowthTracker.Event, sample: Sample, outcome: inout Outcome) -> Alert {
        // What the leak rule watches, and bytes per second in a leak alert's MB/min.
        let basis = outcome.growth?.basis == "anonymous" ? "anonymous memory" : "resident memory"
        let mbPerMinute = 60 / 1_048_576.0
        switch event {
        case .leakStarted(let rate, let windowGrowth):
            outcome.leakStarted = true
            // MB/min: the growth, and the least growth the leak rule counts at this size.
            let least = windowGrowth > 0 ? rate * (growth?.rule.thresholdGrowthRate ?? 0) / windowGrowth : 0
            return makeEventAlert(
                component: .memoryLeak, severity: leakSeverity, status: .firing, value: rate * mbPerMinute, threshold: least * mbPerMinute,
                message: "\(leakSeverity.description.uppercased()): memory leak suspected: \(basis) growing \(GrowthTracker.bytes(rate * 60))/min, +\(Self.format(windowGrowth * 100))% over the window",
                sample: sample)
        case .leakEnded(let rate, let detected):
            // What the growth is now against what it was detected with: stopped, or slowed.
            let now =
                rate > 0
                ? "\(basis) growing \(GrowthTracker.bytes(rate * 60))/min over the window, down from the \(GrowthTracker.bytes(detected * 60))/min it was detected with"
                : "\(basis) not growing over the window"
            return makeEventAlert(
                component: .memoryLeak, severity: leakSeverity, status: .resolved, value: rate * mbPerMinute, threshold: detected * mbPerMinute,
                message: "RESOLVED: memory leak no longer suspected: \(now)", sample: sample)
        case .trendStarted(let message, let seconds), .trendUpdated(let message, let seconds):
            // Seconds: until the predicted crossing, and the window a crossing is looked for in.
            return makeEventAlert(
                component: .memoryTrend, severity: .warning, status: .firing, value: seconds, threshold: growth?.predictionWindow ?? 0, message: message,
                sample: sample)
        case .trendEnded(let message):
            return makeEventAlert(
                component: .memoryTrend, severity: .warning, status: .resolved, value: 0, threshold: growth?.predictionWindow ?? 0, message: message,
                sample: sample)
        }
    }

    func makeAlert(component: Component, from before: Severity, to after: Severity, value: Double, sample: Sample) -> Alert {
        let bounds = policy.bounds(component)
        let resolved = after == .healthy
        let severity = resolved ? before : after
        let threshold = bounds.bound(for: severity) ?? 0
        let what: String
        switch component {
        case .processMemory: what = "Memory usage \(Self.format(value))MB"
        case .systemMemory: what = "Memory usage \(Self.format(value))% of the limit"
        default: what = "Swap usage \(Self.format(value))%"
        }
        let message: String
        if resolved {
            message = "RESOLVED: \(what) is back below the \(before) threshold"
        } else if after < before {
            message = "\(after.description.uppercased()): \(what) exceeds \(after) threshold (down from \(before))"
        } else {
            message = "\(after.description.uppercased()): \(what) exceeds \(after) threshold"
        }
        var alert = Alert(
            id: Self.newID(), timestamp: sample.timestamp, severity: severity, component: component, status: resolved ? .resolved : .firing,
            memoryUsage: value, threshold: threshold, message: message, instance: instance, targetDescription: sample.targetDescription,
            targetPid: sample.process?.pid, targetName: sample.process?.status.name, percent: sample.memoryPercent,
            availableMB: sample.availableMB)
        alert.residentMB = Self.residentMB(sample)
        return alert
    }

    func makeEventAlert(
        component: Component, severity: Severity, status: Alert.Status, value: Double, threshold: Double, message: String, sample: Sample
    ) -> Alert {
        var alert = Alert(
            id: Self.newID(), timestamp: sample.timestamp, severity: severity, component: component, status: status, memoryUsage: value,
            threshold: threshold, message: message, instance: instance, targetDescription: sample.targetDescription,
            targetPid: sample.process?.pid, targetName: sample.process?.status.name, percent: sample.memoryPercent,
            availableMB: sample.availableMB)
        alert.residentMB = Self.residentMB(sample)
        return alert
    }

    /// The target's resident memory, MiB (the SPEC's `memory_usage`), when read.
    static func residentMB(_ sample: Sample) -> Double? {
        sample.process?.status.residentBytes.map { Double($0) / 1_048_576 }
    }

    static func format(_ v: Double) -> String {
        let r = v.roundedToTenth
        guard r.isFinite, abs(r) < 1e15 else { return "\(r)" }
        return r == r.rounded() ? "\(Int64(r)).0" : "\(r)"
    }

    static func newID() -> String {
        var generator = SystemRandomNumberGenerator()
        let a = generator.next() as UInt64
        let hex = String(a, radix: 16)
        return String(repeating: "0", count: 16 - hex.count) + hex
    }
}
