/// Maps a sample to a level per component using the configured thresholds.
package struct ThresholdPolicy: Sendable, Equatable {
    /// The three bounds of one component, in the unit its value is measured in.
    package struct Bounds: Sendable, Equatable {
        package var warning: Double
        package var critical: Double
        package var emergency: Double

        /// The bound for a level (healthy has none).
        package func bound(for severity: Severity) -> Double? {
            switch severity {
            case .healthy: nil
            case .warning: warning
            case .critical: critical
            case .emergency: emergency
            }
        }

        /// The highest level whose bound `value` reaches.
        package func level(of value: Double) -> Severity {
            if value >= emergency { return .emergency }
            if value >= critical { return .critical }
            if value >= warning { return .warning }
            return .healthy
        }
    }

    package var processMB: Bounds
    package var systemPercent: Bounds
    package var swapPercent: Bounds

    package init(_ t: MonitorConfiguration.Thresholds) {
        processMB = Bounds(warning: t.memoryWarningMB, critical: t.memoryCriticalMB, emergency: t.memoryEmergencyMB)
        systemPercent = Bounds(warning: t.memoryPercentWarning, critical: t.memoryPercentCritical, emergency: t.memoryPercentEmergency)
        swapPercent = Bounds(warning: t.swapPercentWarning, critical: t.swapPercentCritical, emergency: t.swapPercentEmergency)
    }

    /// The bounds of a component.
    package func bounds(_ component: Component) -> Bounds {
        switch component {
        case .processMemory: processMB
        case .systemMemory: systemPercent
        case .swapMemory: swapPercent
        // Not judged against thresholds: no value reaches these bounds.
        case .target, .oom, .memoryLeak, .memoryTrend, .autoResponse: Bounds(warning: .infinity, critical: .infinity, emergency: .infinity)
        }
    }

    /// The value a measured component is judged on, in its bounds' unit; nil when not measured
    /// (target gone, or the value unknown this time).
    package static func value(of component: Component, in sample: Sample) -> Double? {
        switch component {
        case .processMemory: sample.process?.status.residentBytes.map { Double($0) / 1_048_576 }
        case .systemMemory: sample.memoryPercent
        case .swapMemory: sample.swapPercent
        case .target, .oom, .memoryLeak, .memoryTrend, .autoResponse: nil
        }
    }

    /// The level of every component in a sample.
    package func levels(_ sample: Sample) -> [Component: Severity] {
        var levels: [Component: Severity] = [:]
        for component in Component.measured {
            levels[component] = Self.value(of: component, in: sample).map { bounds(component).level(of: $0) } ?? .healthy
        }
        return levels
    }
}
