/// One reading of everything the monitor watches, taken at one moment. Immutable once taken:
/// metrics, history, evaluation and the health API all read the same value.
public struct Sample: Sendable {
    /// The monitored process as read in this sample.
    public struct TargetProcess: Sendable, Equatable {
        /// Its pid.
        public var pid: Int32
        /// /proc/PID/status figures.
        public var status: ProcessStatus
        /// Pss from smaps_rollup; nil where unreadable (another user's process without privileges).
        public var proportionalBytes: UInt64?
        /// Open file descriptors; nil where /proc/PID/fd is unreadable.
        public var openFileDescriptors: Int?

        public init(pid: Int32, status: ProcessStatus, proportionalBytes: UInt64? = nil, openFileDescriptors: Int? = nil) {
            self.pid = pid
            self.status = status
            self.proportionalBytes = proportionalBytes
            self.openFileDescriptors = openFileDescriptors
        }
    }

    /// The monitor's own process, for the standard `process_*` metrics.
    public struct ExporterProcess: Sendable, Equatable {
        public var residentBytes: UInt64
        public var virtualBytes: UInt64
        public var cpuSeconds: Double
        public var openFileDescriptors: Int
        public var maxFileDescriptors: UInt64
        public var startTimeSeconds: Double

        public init(
            residentBytes: UInt64 = 0, virtualBytes: UInt64 = 0, cpuSeconds: Double = 0, openFileDescriptors: Int = 0,
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
    /// The monitored process; nil when it could not be found (exited, bad pid file, no match).
    public var process: TargetProcess?
    /// Host memory.
    public var host: MemInfo
    /// The monitored process's cgroup; nil without a cgroup memory controller.
    public var cgroup: CgroupMemory?
    /// Host-wide memory PSI; nil without PSI, and not read when the cgroup has its own.
    public var hostPressure: PressureStall?
    /// The monitor's own allocator; nil when allocator statistics are off.
    public var allocator: AllocatorStatistics?
    /// The monitor's own process.
    public var exporter: ExporterProcess
    /// The limit and use that "percent" is measured against.
    public var limit: EffectiveLimit

    public init(
        timestamp: Double, targetDescription: String, process: TargetProcess?, host: MemInfo, cgroup: CgroupMemory?,
        hostPressure: PressureStall?, allocator: AllocatorStatistics?, exporter: ExporterProcess
    ) {
        self.timestamp = timestamp
        self.targetDescription = targetDescription
        self.process = process
        self.host = host
        self.cgroup = cgroup
        self.hostPressure = hostPressure
        self.allocator = allocator
        self.exporter = exporter
        self.limit = EffectiveLimit(host: host, cgroup: cgroup)
    }

    /// Swap in use as a percentage of swap (0 without swap).
    public var swapPercent: Double {
        host.swapTotalBytes == 0 ? 0 : Double(host.swapUsedBytes) / Double(host.swapTotalBytes) * 100
    }

    /// Memory in use as a percentage of the effective limit.
    public var memoryPercent: Double { limit.usedRatio * 100 }

    /// Memory pressure for the monitored process: its cgroup's PSI when present, else the host's.
    public var pressure: PressureStall? { cgroup?.pressure ?? hostPressure }
}
