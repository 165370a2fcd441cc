/// The memory the monitored process can use before the OOM killer acts, and how much of it is used.
///
/// The cgroup limit counts when it is set and lower than the host's MemTotal; otherwise the host
/// is the limit. Inside a container, "percent" therefore means percent of the container's limit.
public struct EffectiveLimit: Sendable, Equatable {
    /// Where the limit comes from.
    public enum Source: String, Sendable { case cgroup, host }

    /// The limit in bytes.
    public var limitBytes: UInt64
    /// Memory in use against the limit: the cgroup's working set, or MemTotal - MemAvailable.
    public var usedBytes: UInt64
    /// cgroup or host.
    public var source: Source

    public init(limitBytes: UInt64, usedBytes: UInt64, source: Source) {
        self.limitBytes = limitBytes
        self.usedBytes = usedBytes
        self.source = source
    }

    /// The limit for a host and (optionally) the monitored process's cgroup.
    public init(host: MemInfo, cgroup: CgroupMemory?) {
        if let cgroup, let limit = cgroup.limitBytes, limit < host.totalBytes, let used = cgroup.workingSetBytes {
            self.init(limitBytes: limit, usedBytes: used, source: .cgroup)
        } else {
            self.init(limitBytes: host.totalBytes, usedBytes: host.usedBytes, source: .host)
        }
    }

    /// Memory still available under the limit.
    public var availableBytes: UInt64 { limitBytes &- min(usedBytes, limitBytes) }

    /// Used / limit, 0..1 (0 when the limit is unknown).
    public var usedRatio: Double { limitBytes == 0 ? 0 : Double(usedBytes) / Double(limitBytes) }
}
