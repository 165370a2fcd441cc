/// The last N samples in compact form, for /health/metrics/history: a fixed-size ring buffer.
public struct SampleHistory: Sendable {
    /// One remembered sample, in the units of the SPEC's health API.
    public struct Entry: Sendable, Equatable {
        public var timestamp: Double
        public var rssMB: Double?
        public var vmsMB: Double?
        /// Nil when the limit was unknown at that check.
        public var percent: Double?
        public var availableMB: Double?
        /// Nil when host memory was unreadable at that check.
        public var swapPercent: Double?
        public var checkSeconds: Double?
    }

    /// The most entries kept (`monitoring.history_size`).
    public let capacity: Int
    private var entries: [Entry] = []
    private var next = 0

    public init(capacity: Int) {
        precondition(capacity > 0)
        self.capacity = capacity
        entries.reserveCapacity(min(capacity, 4096))
    }

    /// Appends an entry, dropping the oldest when full.
    public mutating func append(_ entry: Entry) {
        if entries.count < capacity {
            entries.append(entry)
        } else {
            entries[next] = entry
            next = (next + 1) % capacity
        }
    }

    /// Entries with a timestamp at or after `since`, oldest first.
    public func entries(since: Double) -> [Entry] {
        let ordered = entries.count < capacity ? entries : Array(entries[next...] + entries[..<next])
        return ordered.filter { $0.timestamp >= since }
    }

    /// The number of entries held.
    public var count: Int { entries.count }

    /// The compact form of a sample.
    public static func entry(_ sample: Sample, checkSeconds: Double?) -> Entry {
        let mib = 1_048_576.0
        return Entry(
            timestamp: sample.timestamp,
            rssMB: sample.process?.status.residentBytes.map { Double($0) / mib },
            vmsMB: sample.process?.status.virtualBytes.map { Double($0) / mib },
            percent: sample.memoryPercent,
            availableMB: sample.availableMB,
            swapPercent: sample.swapPercent,
            checkSeconds: checkSeconds
        )
    }
}
