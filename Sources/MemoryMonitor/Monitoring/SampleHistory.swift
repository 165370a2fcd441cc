/// The last N samples in compact form, for /health/metrics/history: a fixed-size ring buffer.
package struct SampleHistory: Sendable {
    /// One remembered sample, in the units of the SPEC's health API.
    package struct Entry: Sendable, Equatable {
        package var timestamp: Double
        package var rssMB: Double?
        package var vmsMB: Double?
        /// Nil when the limit was unknown at that check.
        package var percent: Double?
        package var availableMB: Double?
        /// Nil when host memory was unreadable at that check.
        package var swapPercent: Double?
        package var checkSeconds: Double?
        /// What the leak detector needs to pick its window up again after a restart.
        package var anonymousMB: Double?
        package var usedBytes: Double?
        package var limitBytes: Double?
        /// The target's pid and start time: restored points count only for the same process.
        package var pid: Int32?
        package var startTicks: UInt64?

        package init(
            timestamp: Double, rssMB: Double?, vmsMB: Double?, percent: Double?, availableMB: Double?, swapPercent: Double?,
            checkSeconds: Double?, anonymousMB: Double? = nil, usedBytes: Double? = nil, limitBytes: Double? = nil, pid: Int32? = nil,
            startTicks: UInt64? = nil
        ) {
            self.timestamp = timestamp
            self.rssMB = rssMB
            self.vmsMB = vmsMB
            self.percent = percent
            self.availableMB = availableMB
            self.swapPercent = swapPercent
            self.checkSeconds = checkSeconds
            self.anonymousMB = anonymousMB
            self.usedBytes = usedBytes
            self.limitBytes = limitBytes
            self.pid = pid
            self.startTicks = startTicks
        }
    }

    /// The most entries kept (`monitoring.history_size`).
    package let capacity: Int
    private var entries: [Entry] = []
    private var next = 0

    package init(capacity: Int) {
        precondition(capacity > 0)
        self.capacity = capacity
        entries.reserveCapacity(min(capacity, 4096))
    }

    /// Appends an entry, dropping the oldest when full.
    package mutating func append(_ entry: Entry) {
        if entries.count < capacity {
            entries.append(entry)
        } else {
            entries[next] = entry
            next = (next + 1) % capacity
        }
    }

    /// Entries with a timestamp at or after `since`, oldest first; with `newest`, only the last
    /// that many of them. One pass from the newest, copying only what is returned: callers hold
    /// the monitor's lock while this runs, and a history of 100 000 entries copied whole took
    /// milliseconds that a check (and a scrape behind it) waited for.
    package func entries(since: Double, newest limit: Int = .max) -> [Entry] {
        let n = entries.count
        var result: [Entry] = []
        result.reserveCapacity(Swift.min(n, limit))
        // Position p (0 = newest) is at index (start - p) modulo the ring.
        let start = n < capacity ? n - 1 : (next - 1 + capacity) % capacity
        var p = 0
        while p < n && result.count < limit {
            let e = entries[(start - p + n) % n]
            if e.timestamp >= since { result.append(e) }
            p += 1
        }
        result.reverse()
        return result
    }

    /// The number of entries held.
    package var count: Int { entries.count }

    /// The compact form of a sample.
    package static func entry(_ sample: Sample, checkSeconds: Double?) -> Entry {
        let mib = 1_048_576.0
        return Entry(
            timestamp: sample.timestamp,
            rssMB: sample.process?.status.residentBytes.map { Double($0) / mib },
            vmsMB: sample.process?.status.virtualBytes.map { Double($0) / mib },
            percent: sample.memoryPercent,
            availableMB: sample.availableMB,
            swapPercent: sample.swapPercent,
            checkSeconds: checkSeconds,
            anonymousMB: sample.process?.status.anonymousBytes.map { Double($0) / mib },
            usedBytes: sample.limit.map { Double($0.usedBytes) },
            limitBytes: sample.limit.map { Double($0.limitBytes) },
            pid: sample.process?.pid,
            startTicks: sample.process?.startTicks
        )
    }
}
