#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import Synchronization

/// Takes samples: reads /proc, the cgroup file system and the allocator, and returns a `Sample`.
/// The only place in the monitor that reads /proc.
public final class Sampler: Sendable {
    /// What to watch.
    public let target: MonitoredTarget
    /// Whether to read glibc allocator statistics (`monitoring.enable_tracemalloc`).
    public let collectsAllocatorStatistics: Bool

    private let ownPid: Int32
    private let clockTicksPerSecond: Double
    private let bootTime: Double
    private let mounts: CgroupMounts
    private let lastResolvedPid = Mutex<Int32?>(nil)
    /// How long a Pss reading is reused. smaps_rollup walks every mapping of the process: it
    /// costs more than the rest of a sample together, and Pss moves slowly.
    public let proportionalRefresh: Duration
    private let proportionalCache = Mutex<(pid: Int32, bytes: UInt64?, at: ContinuousClock.Instant)?>(nil)
    /// Where the target's cgroup files are: /proc/PID/cgroup is re-read when the pid changes or
    /// every `membershipRefresh` (a process is rarely moved between cgroups).
    private let directoriesCache = Mutex<(pid: Int32, unified: String?, memoryV1: String?, at: ContinuousClock.Instant)?>(nil)
    private let membershipRefresh = Duration.seconds(10)
    private let ownStartTime: Double

    /// A sampler for `target`. Mount points, boot time and clock rate are read once here.
    public init(target: MonitoredTarget = .ownProcess, collectsAllocatorStatistics: Bool = true, proportionalRefresh: Duration = .seconds(30)) {
        self.target = target
        self.collectsAllocatorStatistics = collectsAllocatorStatistics
        self.proportionalRefresh = proportionalRefresh
        self.ownPid = getpid()
        let ticks = sysconf(Int32(_SC_CLK_TCK))
        self.clockTicksPerSecond = ticks > 0 ? Double(ticks) : 100
        self.bootTime = ProcFile.read("/proc/stat").flatMap(ProcessStat.parseBootTime) ?? 0
        self.mounts = ProcFile.read("/proc/self/mountinfo").map(CgroupMounts.parse) ?? CgroupMounts()
        let ownStat = ProcFile.read("/proc/self/stat").flatMap(ProcessStat.parse)
        self.ownStartTime = bootTime + Double(ownStat?.startTicks ?? 0) / clockTicksPerSecond
    }

    /// Takes one sample. Never throws: whatever cannot be read is reported as absent.
    public func sample() -> Sample {
        let timestamp = WallClock.now()
        let host = ProcFile.read("/proc/meminfo").flatMap(MemInfo.parse) ?? MemInfo(totalBytes: 0, availableBytes: 0)
        let ownStatus = ProcFile.read("/proc/self/status").flatMap(ProcessStatus.parse)

        var process: Sample.TargetProcess?
        if let pid = resolvePid() {
            let status = pid == ownPid ? ownStatus : ProcFile.read("/proc/\(pid)/status").flatMap(ProcessStatus.parse)
            if let status {
                process = Sample.TargetProcess(
                    pid: pid,
                    status: status,
                    proportionalBytes: proportionalBytes(pid: pid),
                    openFileDescriptors: pid == ownPid ? nil : ProcFile.countEntries("/proc/\(pid)/fd")
                )
            } else {
                // The process exited between resolution and reading: forget it so the next check searches again.
                lastResolvedPid.withLock { $0 = nil }
            }
        }

        let cgroupPid = process?.pid ?? ownPid
        let cgroup = readCgroup(pid: cgroupPid)
        let exporter = readExporter(status: ownStatus)
        if process?.pid == ownPid { process?.openFileDescriptors = exporter.openFileDescriptors }

        return Sample(
            timestamp: timestamp,
            targetDescription: target.description,
            process: process,
            host: host,
            cgroup: cgroup,
            // The host's PSI is only the fallback when the cgroup has none.
            hostPressure: cgroup?.pressure == nil ? ProcFile.read("/proc/pressure/memory").flatMap(PressureStall.parse) : nil,
            allocator: collectsAllocatorStatistics ? AllocatorStatistics.current() : nil,
            exporter: exporter
        )
    }

    /// The pid to read now, or nil when the target cannot be found.
    func resolvePid() -> Int32? {
        switch target {
        case .ownProcess:
            return ownPid
        case .pid(let pid):
            return processExists(pid) ? pid : nil
        case .pidfile(let path):
            guard let pid = ProcFile.read(path).flatMap(MonitoredTarget.parsePidfile), processExists(pid) else { return nil }
            return pid
        case .processName(let name):
            if let last = lastResolvedPid.withLock({ $0 }), matches(pid: last, name: name) { return last }
            let found = ProcFile.directoryEntries("/proc")?
                .compactMap { Int32($0) }
                .sorted()
                .first { matches(pid: $0, name: name) }
            lastResolvedPid.withLock { $0 = found }
            return found
        }
    }

    /// Pss of `pid`, read at most once per `proportionalRefresh` (and at once for a new pid).
    private func proportionalBytes(pid: Int32) -> UInt64? {
        let now = ContinuousClock.now
        if let cached = proportionalCache.withLock({ $0 }), cached.pid == pid, now - cached.at < proportionalRefresh { return cached.bytes }
        let bytes = ProcFile.read("/proc/\(pid)/smaps_rollup").flatMap(SmapsRollup.parse)?.proportionalBytes
        proportionalCache.withLock { $0 = (pid, bytes, now) }
        return bytes
    }

    private func processExists(_ pid: Int32) -> Bool {
        kill(pid, 0) == 0 || errno == EPERM
    }

    private func matches(pid: Int32, name: String) -> Bool {
        guard let comm = ProcFile.read("/proc/\(pid)/comm") else { return false }
        let trimmed = comm.hasSuffix("\n") ? String(comm.dropLast()) : comm
        let cmdline = name.utf8.count > 15 ? ProcFile.read("/proc/\(pid)/cmdline") : nil
        return MonitoredTarget.nameMatches(name, comm: trimmed, cmdline: cmdline)
    }

    private func cgroupDirectories(pid: Int32) -> (unified: String?, memoryV1: String?)? {
        let now = ContinuousClock.now
        if let cached = directoriesCache.withLock({ $0 }), cached.pid == pid, now - cached.at < membershipRefresh {
            return (cached.unified, cached.memoryV1)
        }
        guard let text = ProcFile.read("/proc/\(pid)/cgroup") else { return nil }
        let dirs = CgroupMembership.parse(text).directories(in: mounts) { access($0, F_OK) == 0 }
        directoriesCache.withLock { $0 = (pid, dirs.unified, dirs.memoryV1, now) }
        return dirs
    }

    private func readCgroup(pid: Int32) -> CgroupMemory? {
        guard let dirs = cgroupDirectories(pid: pid) else { return nil }
        if let unified = dirs.unified, let memory = CgroupMemory.readV2(directory: unified) { return memory }
        if let v1 = dirs.memoryV1, var memory = CgroupMemory.readV1(directory: v1) {
            // Hybrid hosts: the memory controller is on v1, but PSI may still be on the unified tree.
            if let unified = dirs.unified { memory.pressure = ProcFile.read(unified + "/memory.pressure").flatMap(PressureStall.parse) }
            return memory
        }
        return nil
    }

    private func readExporter(status: ProcessStatus?) -> Sample.ExporterProcess {
        var exporter = Sample.ExporterProcess()
        exporter.residentBytes = status?.residentBytes ?? 0
        exporter.virtualBytes = status?.virtualBytes ?? 0
        // getrusage: one system call instead of reading and parsing /proc/self/stat.
        var usage = rusage()
        if getrusage(RUSAGE_SELF.rawValue, &usage) == 0 {
            exporter.cpuSeconds = Double(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec) + Double(usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) / 1e6
        }
        exporter.startTimeSeconds = ownStartTime
        exporter.openFileDescriptors = max(0, (ProcFile.countEntries("/proc/self/fd") ?? 1) - 1)  // less the directory's own fd
        var limit = rlimit()
        if getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit) == 0 { exporter.maxFileDescriptors = UInt64(limit.rlim_cur) }
        return exporter
    }
}
