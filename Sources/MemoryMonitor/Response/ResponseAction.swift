/// One thing the automatic response can do (SPEC §8). The raw value is the configuration key
/// and the `action` label.
public enum ResponseAction: String, Sendable, CaseIterable, Comparable {
    case forceGC = "force_gc"
    case clearCaches = "clear_caches"
    case clearAllCaches = "clear_all_caches"
    case throttle = "throttle_operations"
    case emergencyThrottle = "emergency_throttle"
    case stopNonEssential = "stop_non_essential"
    case prepareRestart = "prepare_restart"
    case signal
    case httpHook = "http_hook"
    case command
    case restart

    /// Run order within a level: in-process clean-up first, then what asks the target, the
    /// restart last.
    public static func < (a: ResponseAction, b: ResponseAction) -> Bool {
        allCases.firstIndex(of: a)! < allCases.firstIndex(of: b)!
    }
}

/// How one action ended: the `result` label.
public enum ActionResult: String, Sendable, CaseIterable {
    case ok
    case failed
    /// Not run: nothing to act on, a restart loop refused, a target without a handler.
    case skipped
    /// `auto_response.dry_run`: logged, not run.
    case dryRun = "dry_run"
}

/// What started an action.
public enum ActionTrigger: String, Sendable {
    /// A level reached by a check.
    case auto
    /// `POST /health/actions/gc`.
    case manual
}

/// One action as it ran: for the log, `GET /health/actions` and the alert's metadata.
public struct ActionRecord: Sendable, Equatable {
    /// Unix time the action started.
    public var timestamp: Double
    /// The level it ran for (warning for a manual clean-up).
    public var level: Severity
    public var trigger: ActionTrigger
    public var action: ResponseAction
    public var result: ActionResult
    /// What happened, or why it failed or was skipped.
    public var detail: String
    /// The target's pid (the lowest of a group).
    public var targetPid: Int32?
    /// Resident bytes of the target before and after (after `settle_seconds` where it settles).
    public var residentBytesBefore: UInt64?
    public var residentBytesAfter: UInt64?
    /// In-process: bytes the allocator had in use before and after.
    public var heapBytesBefore: UInt64?
    public var heapBytesAfter: UInt64?
    /// Seconds the action took, settle time included.
    public var durationSeconds: Double
    /// Through the target's runtime agent: Python objects the collector tracked before and after,
    /// and what `gc.collect()` reported it freed (summed over a group's agents).
    public var objectsBefore: UInt64?
    public var objectsAfter: UInt64?
    public var collectedObjects: UInt64?

    /// Resident bytes the action freed (0 when it grew); nil when either reading is unknown.
    public var reclaimedBytes: UInt64? {
        guard let before = residentBytesBefore, let after = residentBytesAfter else { return nil }
        return before > after ? before - after : 0
    }

    /// The record as `GET /health/actions` lists it.
    public var json: JSONValue {
        func bytes(_ v: UInt64?) -> JSONValue { v.map { .number(Double($0)) } ?? .null }
        return .object([
            "timestamp": .string(WallClock.rfc3339(timestamp)),
            "level": .string(level.description),
            "trigger": .string(trigger.rawValue),
            "action": .string(action.rawValue),
            "result": .string(result.rawValue),
            "detail": .string(detail),
            "target_pid": targetPid.map { .number(Double($0)) } ?? .null,
            "rss_before_bytes": bytes(residentBytesBefore),
            "rss_after_bytes": bytes(residentBytesAfter),
            "heap_before_bytes": bytes(heapBytesBefore),
            "heap_after_bytes": bytes(heapBytesAfter),
            "reclaimed_bytes": bytes(reclaimedBytes),
            "objects_before": bytes(objectsBefore),
            "objects_after": bytes(objectsAfter),
            "collected_objects": bytes(collectedObjects),
            "duration_seconds": .number((durationSeconds * 1000).rounded() / 1000),
        ])
    }
}
