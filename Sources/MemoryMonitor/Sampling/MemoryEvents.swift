/// The cgroup's memory event counts (v2 `memory.events`; v1 has only `oom_kill`, in `memory.oom_control`).
public struct MemoryEvents: Sendable, Equatable {
    /// Reclaimed below `memory.low` under pressure.
    public var low: UInt64?
    /// Throttled and reclaimed above `memory.high`.
    public var high: UInt64?
    /// Reached `memory.max` and reclaimed.
    public var max: UInt64?
    /// Reached the limit and reclaim failed.
    public var oom: UInt64?
    /// Processes the OOM killer killed.
    public var oomKill: UInt64?

    /// The label values of `memory_cgroup_events_total{event}`, in order.
    public static let names = ["low", "high", "max", "oom", "oom_kill"]

    public init(low: UInt64? = nil, high: UInt64? = nil, max: UInt64? = nil, oom: UInt64? = nil, oomKill: UInt64? = nil) {
        self.low = low
        self.high = high
        self.max = max
        self.oom = oom
        self.oomKill = oomKill
    }

    /// The count for a name of `names`.
    public subscript(name: String) -> UInt64? {
        switch name {
        case "low": low
        case "high": high
        case "max": max
        case "oom": oom
        case "oom_kill": oomKill
        default: nil
        }
    }

    /// Parses v2 `memory.events` ("low 0\nhigh 3\n...").
    public static func parse(_ text: String) -> MemoryEvents { text.withProcBytes(parse) }

    /// Parses `memory.events` bytes where they were read, in one pass (the first of a repeated name counts).
    static func parse(_ bytes: UnsafeBufferPointer<UInt8>) -> MemoryEvents {
        var events = MemoryEvents()
        KeyValueLines.forEachSpaceSeparatedPair(bytes) { name, value in
            switch name {
            case "low": events.low = events.low ?? value
            case "high": events.high = events.high ?? value
            case "max": events.max = events.max ?? value
            case "oom": events.oom = events.oom ?? value
            case "oom_kill": events.oomKill = events.oomKill ?? value
            default: break
            }
        }
        return events
    }

    /// How much each count rose since `base` (0 where either is unknown or it did not rise).
    public func increase(since base: MemoryEvents) -> MemoryEvents {
        func delta(_ now: UInt64?, _ then: UInt64?) -> UInt64 {
            guard let now, let then, now > then else { return 0 }
            return now - then
        }
        return MemoryEvents(
            low: delta(low, base.low), high: delta(high, base.high), max: delta(max, base.max), oom: delta(oom, base.oom),
            oomKill: delta(oomKill, base.oomKill))
    }

    /// Each count of `self`, or of `fallback` where `self` does not know it.
    public func filled(from fallback: MemoryEvents?) -> MemoryEvents {
        MemoryEvents(
            low: low ?? fallback?.low, high: high ?? fallback?.high, max: max ?? fallback?.max, oom: oom ?? fallback?.oom,
            oomKill: oomKill ?? fallback?.oomKill)
    }
}
