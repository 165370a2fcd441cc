/// What one clean-up did (the SPEC's "force garbage collection", mapped to the allocator).
public struct CleanupResult: Sendable, Equatable {
    /// Whether it ran (always true today; kept for the SPEC's response shape).
    public var success: Bool
    /// What it acted on: "monitor" (the monitor's own process and the caches registered with it).
    public var scope: String
    /// Allocator free bytes held before the trim (`before_objects`).
    public var freeBytesBefore: UInt64
    /// Allocator free bytes held after the trim (`after_objects`).
    public var freeBytesAfter: UInt64
    /// Resident set size of the monitor before and after; nil when /proc/self/status was unreadable.
    public var residentBytesBefore: UInt64?
    public var residentBytesAfter: UInt64?
    /// Cache clearers registered by an embedding service that ran.
    public var cacheClearersRun: Int
    /// Unix time when it finished.
    public var timestamp: Double

    /// Bytes returned by the trim (`collected_objects`).
    public var releasedBytes: UInt64 { freeBytesBefore &- min(freeBytesAfter, freeBytesBefore) }
}
