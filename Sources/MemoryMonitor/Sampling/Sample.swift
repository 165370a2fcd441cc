/// One reading of everything the monitor watches, taken at one moment. Immutable once taken:
/// metrics, history, evaluation and the health API all read the same value.
///
/// A value the monitor could not read is nil, and `unavailable` says why. It is never replaced
/// by a zero or by another process's or cgroup's figure.
public struct Sample: Sendable {
    /// The monitored process (or group of processes) as read in this sample.
    public struct TargetProcess: Sendable, Equatable {
        /// One process of the target, as the actions address it: a pid with its start time (a
        /// reused pid is another process) and its place in the group.
        public struct Member: Sendable, Equatable {
            public var pid: Int32
            /// Start time in clock ticks after boot; nil where /proc/PID/stat could not be read
            /// (then no action signals it: its identity cannot be proved).
            public var startTicks: UInt64?
            /// No other member is its ancestor: a `restart` goes here (the wrapper, the pre-fork master).
            public var isRoot: Bool
            /// No other member is its descendant: a clean-up `signal` goes here (the worker itself).
            public var isLeaf: Bool

            public init(pid: Int32, startTicks: UInt64?, isRoot: Bool = true, isLeaf: Bool = true) {
                self.pid = pid
                self.startTicks = startTicks
                self.isRoot = isRoot
                self.isLeaf = isLeaf
            }
        }

        /// The lowest pid of the target.
        public var pid: Int32
        /// Every pid of the target, ascending (one unless `--process-match` matched a group).
        public var pids: [Int32]
        /// Start time of `pid` in clock ticks after boot (field 22 of /proc/PID/stat): with the pid,
        /// the identity of the process. Nil where /proc/PID/stat could not be read.
        public var startTicks: UInt64?
        /// /proc/PID/status figures; for a group the byte figures and threads are sums and the
        /// name is the lowest pid's.
        public var status: ProcessStatus
        /// Pss from smaps_rollup (a sum for a group); nil where unreadable, see `unavailable`.
        public var proportionalBytes: UInt64?
        /// Open file descriptors (a sum for a group); nil where unreadable, see `unavailable`.
        public var openFileDescriptors: Int?
        /// Why a field is nil, by its health-API key (`pss_mb`, `open_fds`): "permission denied", ...
        public var unavailable: [String: String]
        /// Every process of the target with its identity, in `pids` order.
        public var members: [Member]

        public init(
            pid: Int32, pids: [Int32]? = nil, startTicks: UInt64? = nil, status: ProcessStatus, proportionalBytes: UInt64? = nil,
            openFileDescriptors: Int? = nil, unavailable: [String: String] = [:], members: [Member]? = nil
        ) {
            self.pid = pid
            self.pids = pids ?? [pid]
            self.members = members ?? (pids ?? [pid]).map { Member(pid: $0, startTicks: $0 == pid ? startTicks : nil) }
            self.startTicks = startTicks
            self.status = status
            self.proportionalBytes = proportionalBytes
            self.openFileDescriptors = openFileDescriptors
            self.unavailable = unavailable
        }
    }

    /// Whether the target was read, is gone, or could not be read this time.
    public enum TargetState: Sendable, Equatable {
        /// Read; `process` holds it.
        case up
        /// No such process (exited, no match, empty pid file, a reused pid): a fact.
        case gone(reason: String)
        /// The monitor could not tell (permission, EMFILE): levels hold, nothing is concluded.
        case unknown(reason: String)
    }

    /// The monitor's own process, for the standard `process_*` metrics.
    public struct ExporterProcess: Sendable, Equatable {
        public var residentBytes: UInt64?
        public var virtualBytes: UInt64?
        public var cpuSeconds: Double
        public var openFileDescriptors: Int?
        public var maxFileDescriptors: UInt64
        public var startTimeSeconds: Double

        public init(
            residentBytes: UInt64? = nil, virtualBytes: UInt64? = nil, cpuSeconds: Double = 0, openFileDescriptors: Int? = nil,
            maxFileDescriptors: UInt64 = 0, startTimeSeconds: Double = 0
        ) {
            self.residentBytes = residentBytes
            self.virtualBytes = virtualBytes
            self.cpuSeconds = cpuSeconds
            self.openFileDescriptors = openFileDescriptors
            self.maxFileDescriptors = maxFileDescriptors
            self.startTimeSeconds = startTimeSeconds
        }
    }

    /// Seconds since the epoch when the sample was taken.
    public var timestamp: Double
    /// What the monitor was asked to watch.
    public var targetDescription: String
    /// The monitored process; nil unless `targetState` is `.up`.
    public var process: TargetProcess?
    /// Up, gone or unknown.
    public var targetState: TargetState
    /// True when the target's identity (pid and start time, or the group's members) differs from
    /// the previous sample's: a restarted or replaced process.
    public var targetChanged: Bool
    /// True for a `--process-match` group, whose members come and go while the group stays the target.
    public var targetIsGroup = false
    /// Host memory; nil when /proc/meminfo could not be read.
    public var host: MemInfo?
    /// The target's cgroup memory; nil without a cgroup memory controller or when unresolved.
    public var cgroup: CgroupMemory?
    /// The cgroup directory read, when resolved.
    public var cgroupDirectory: String?
    /// How much each memory event count of the target's cgroup rose since the previous sample of
    /// the same cgroup (deltas, so a changed target never makes a counter go down).
    public var newEvents: MemoryEvents
    /// OOM kills the target's cgroup counted since the previous sample of the same cgroup.
    public var newOOMKills: UInt64 { newEvents.oomKill ?? 0 }
    /// OOM events (limit hit, reclaim failed) since the previous sample of the same cgroup.
    public var newOOMEvents: UInt64 { newEvents.oom ?? 0 }
    /// Host-wide memory PSI; nil without PSI, and not read when the cgroup has its own.
    public var hostPressure: PressureStall?
    /// The monitor's own allocator; nil when allocator statistics are off.
    public var allocator: AllocatorStatistics?
    /// The monitor's own process.
    public var exporter: ExporterProcess
    /// The limit and use that "percent" is measured against; nil when it cannot be known (see `unavailable["limit"]`).
    public var limit: EffectiveLimit?
    /// Why a part of the sample is missing, by part: `host`, `cgroup`, `limit`, `target`.
    public var unavailable: [String: String]
    /// Pss reads this check left for later because of `monitoring.pss_budget_seconds`.
    public var pssDeferred = 0
    /// The target's runtime agents (clients/python); nil when the probe is off or the target is the monitor itself.
    package var runtime: RuntimeReading?

    public init(
        timestamp: Double, targetDescription: String, process: TargetProcess?, targetState: TargetState? = nil, targetChanged: Bool = false,
        host: MemInfo?, cgroup: CgroupMemory?, cgroupDirectory: String? = nil, cgroupUnresolved: String? = nil, newOOMKills: UInt64 = 0,
        newEvents: MemoryEvents? = nil, hostPressure: PressureStall?, allocator: AllocatorStatistics?, exporter: ExporterProcess,
        unavailable: [String: String] = [:]
    ) {
        self.timestamp = timestamp
        self.targetDescription = targetDescription
        self.process = process
        self.targetState = targetState ?? (process == nil ? .gone(reason: "not found") : .up)
        self.targetChanged = targetChanged
        self.host = host
        self.cgroup = cgroup
        self.cgroupDirectory = cgroupDirectory
        var events = newEvents ?? MemoryEvents(low: 0, high: 0, max: 0, oom: 0, oomKill: 0)
        if newOOMKills > 0 { events.oomKill = newOOMKills }
        self.newEvents = events
        self.hostPressure = hostPressure
        self.allocator = allocator
        self.exporter = exporter
        var unavailable = unavailable
        if let host {
            if let cgroupUnresolved {
                unavailable["cgroup"] = cgroupUnresolved
                unavailable["limit"] = "the target's cgroup is unknown: \(cgroupUnresolved)"
                self.limit = nil
            } else {
                self.limit = EffectiveLimit(host: host, cgroup: cgroup)
            }
        } else {
            unavailable["limit"] = "host memory unknown: \(unavailable["host"] ?? "unreadable")"
            self.limit = nil
        }
        self.unavailable = unavailable
    }

    /// Swap in use as a percentage of swap (0 without swap); nil when host memory is unknown.
    public var swapPercent: Double? {
        guard let host else { return nil }
        return host.swapTotalBytes == 0 ? 0 : Double(host.swapUsedBytes) / Double(host.swapTotalBytes) * 100
    }

    /// Memory in use as a percentage of the effective limit; nil when the limit is unknown.
    public var memoryPercent: Double? {
        guard let limit, limit.limitBytes > 0 else { return nil }
        return limit.usedRatio * 100
    }

    /// Memory still available under the effective limit, MiB; nil when the limit is unknown.
    public var availableMB: Double? { limit.map { Double($0.availableBytes) / 1_048_576 } }

    /// Memory pressure for the monitored process: its cgroup's PSI when present, else the host's.
    public var pressure: PressureStall? { cgroup?.pressure ?? hostPressure }
}
