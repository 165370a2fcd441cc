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

    /// A sampler for `target`. Mount points, boot time and clock rate are read once here.
    public init(target: MonitoredTarget = .ownProcess, collectsAllocatorStatistics: Bool = true) {
        self.target = target
        self.collectsAllocatorStatistics = collectsAllocatorStatistics
        self.ownPid = getpid()
        let ticks = sysconf(Int32(_SC_CLK_TCK))
        self.clockTicksPerSecond = ticks > 0 ? Double(ticks) : 100
        self.bootTime = ProcFile.read("/proc/stat").flatMap(ProcessStat.parseBootTime) ?? 0
        self.mounts = ProcFile.read("/proc/self/mountinfo").map(CgroupMounts.parse) ?? CgroupMounts()
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
                    proportionalBytes: ProcFile.read("/proc/\(pid)/smaps_rollup").flatMap(SmapsRollup.parse)?.proportionalBytes,
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
            hostPressure: ProcFile.read("/proc/pressure/memory").flatMap(PressureStall.parse),
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

    private func processExists(_ pid: Int32) -> Bool {
        kill(pid, 0) == 0 || errno == EPERM
    }

    private func matches(pid: Int32, name: String) -> Bool {
        guard let comm = ProcFile.read("/proc/\(pid)/comm") else { return false }
        let trimmed = comm.hasSuffix("\n") ? String(comm.dropLast()) : comm
        let cmdline = name.utf8.count > 15 ? ProcFile.read("/proc/\(pid)/cmdline") : nil
        return MonitoredTarget.nameMatches(name, comm: trimmed, cmdline: cmdline)
    }

    private func readCgroup(pid: Int32) -> CgroupMemory? {
        guard let text = ProcFile.read("/proc/\(pid)/cgroup") else { return nil }
        let dirs = CgroupMembership.parse(text).directories(in: mounts) { access($0, F_OK) == 0 }
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
        if let stat = ProcFile.read("/proc/self/stat").flatMap(ProcessStat.parse) {
            exporter.cpuSeconds = Double(stat.cpuTicks) / clockTicksPerSecond
            exporter.startTimeSeconds = bootTime + Double(stat.startTicks) / clockTicksPerSecond
        }
        exporter.openFileDescriptors = max(0, (ProcFile.countEntries("/proc/self/fd") ?? 1) - 1)  // less the directory's own fd
        var limit = rlimit()
        if getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit) == 0 { exporter.maxFileDescriptors = UInt64(limit.rlim_cur) }
        return exporter
    }
}
