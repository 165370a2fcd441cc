#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import Synchronization

/// Takes samples: reads /proc, the cgroup file system and the allocator, and returns a `Sample`.
/// The only place in the monitor that reads /proc. Calls to `sample()` must not overlap (the
/// monitor's check is the single caller); its caches live behind one lock.
public final class Sampler: Sendable {
    /// A process as identified across samples: a pid is reused, a pid with its start time is not.
    struct Identity: Sendable, Hashable {
        var pid: Int32
        var startTicks: UInt64?
    }

    struct State: Sendable {
        var previousIdentities: [Identity] = []
        /// `--pid`: the start time the pid had when first seen.
        var pinnedStart: UInt64??
        var lastNamedPid: Int32?
        /// The parents of the processes the last resolution found (read with their start times).
        var parents: [Int32: Int32] = [:]
        /// The monitor's ancestors and the parent pid they were walked from: walked again when
        /// the monitor is reparented (its parent exited).
        var ownAncestors: (parent: Int32, pids: Set<Int32>)?
        var proportional: [Identity: (bytes: UInt64?, reason: String?, at: ContinuousClock.Instant)] = [:]
        /// Pss reads left for a later check in this sample because the time budget was spent.
        var pssDeferred = 0
        /// The target's memory cgroup directory and, on hybrid hosts, its unified one for PSI.
        var directories: (identity: Identity, memory: CgroupMembership.Directory, unifiedForPressure: String?, at: ContinuousClock.Instant)?
        /// The target's last resolved cgroup: after the target dies its OOM counters are read once more.
        var lastCgroupDirectory: String?
        var eventBaseline: (directory: String, events: MemoryEvents)?
    }

    /// What to watch.
    package let target: MonitoredTarget
    /// A cgroup directory to read instead of resolving the target's (`--cgroup`, a sidecar that knows it).
    package let cgroupOverride: String?
    /// Whether to read glibc allocator statistics (`monitoring.allocator_statistics`).
    package let collectsAllocatorStatistics: Bool
    /// How long a Pss reading is reused. smaps_rollup walks every mapping of the process: it
    /// costs more than the rest of a sample together, and Pss moves slowly.
    package let proportionalRefresh: Duration
    /// Time one check may spend reading smaps_rollup (it takes the target's mmap lock and grows
    /// with its mappings); past it, the remaining processes of a group are read at later checks.
    package let proportionalBudget: Duration

    private let ownPid: Int32
    private let ownStartTicks: UInt64?
    private let clockTicksPerSecond: Double
    private let bootTime: Double
    private let mounts: CgroupMounts
    private let membershipRefresh = Duration.seconds(10)
    private let ownStartTime: Double
    private nonisolated(unsafe) let matchPattern: Regex<AnyRegexOutput>?
    private let state = Mutex(State())
    /// The pseudo-files read at every check, kept open (pread at offset 0).
    private let files = KeptOpenFiles()
    /// The cgroup version each directory read as.
    private let cgroupVersions = Mutex<[String: CgroupMemory.Version]>([:])

    /// A sampler for `target`. Mount points, boot time and clock rate are read once here. A
    /// `processMatch` pattern that does not compile matches nothing (configuration loading rejects it first).
    public init(
        target: MonitoredTarget = .ownProcess, cgroup: String? = nil, collectsAllocatorStatistics: Bool = true,
        proportionalRefresh: Duration = .seconds(30), proportionalBudget: Duration = .milliseconds(100)
    ) {
        self.proportionalBudget = proportionalBudget
        self.target = target
        self.cgroupOverride = cgroup
        self.collectsAllocatorStatistics = collectsAllocatorStatistics
        self.proportionalRefresh = proportionalRefresh
        self.ownPid = getpid()
        let ticks = sysconf(Int32(_SC_CLK_TCK))
        self.clockTicksPerSecond = ticks > 0 ? Double(ticks) : 100
        self.bootTime = ProcFile.read("/proc/stat").flatMap(ProcessStat.parseBootTime) ?? 0
        self.mounts = ProcFile.read("/proc/self/mountinfo").map(CgroupMounts.parse) ?? CgroupMounts()
        self.ownStartTicks = ProcFile.read("/proc/self/stat").flatMap(ProcessStat.parse)?.startTicks
        self.ownStartTime = bootTime + Double(ownStartTicks ?? 0) / clockTicksPerSecond
        if case .processMatch(let pattern) = target { matchPattern = try? Regex(pattern) } else { matchPattern = nil }
    }

    /// Takes one sample. Never throws: whatever cannot be read is nil, with the reason in the sample.
    /// Samples are taken one at a time: the state is updated in place, under its lock, so its
    /// arrays and dictionaries are never copied.
    public func sample() -> Sample {
        state.withLock { sample(updating: &$0) }
    }

    private func sample(updating s: inout State) -> Sample {
        s.pssDeferred = 0
        let timestamp = WallClock.now()
        let now = ContinuousClock.now
        var unavailable: [String: String] = [:]

        var host: MemInfo?
        defer { files.endSweep() }
        // Each file is parsed where it was read (no string made of it).
        switch files.read("/proc/meminfo", MemInfo.parse) {
        case .success(let parsed):
            host = parsed
            if host == nil { unavailable["host"] = "/proc/meminfo has no MemTotal" }
        case .failure(let failure):
            unavailable["host"] = "/proc/meminfo: \(failure)"
        }
        let ownStatusRead = files.read("/proc/self/status", ProcessStatus.parse)
        let ownParsed = (try? ownStatusRead.get()) ?? nil

        // The target.
        var process: Sample.TargetProcess?
        var targetState: Sample.TargetState
        var identities: [Identity] = []
        switch resolve(&s) {
        case .gone(let reason):
            targetState = .gone(reason: reason)
        case .unknown(let reason):
            targetState = .unknown(reason: reason)
        case .found(let members):
            switch read(members: members, ownStatus: ownParsed, ownStatusFailure: ownStatusRead, state: &s, now: now) {
            case .gone(let reason): targetState = .gone(reason: reason)
            case .unknown(let reason): targetState = .unknown(reason: reason)
            case .found(let read, let members):
                process = read
                identities = members
                targetState = .up
            }
        }
        switch targetState {
        case .gone(let reason), .unknown(let reason): unavailable["target"] = reason
        case .up: break
        }
        let targetChanged = !identities.isEmpty && !s.previousIdentities.isEmpty && identities != s.previousIdentities
        if targetChanged {
            // A new process: per-process caches belong to the old one.
            s.proportional = s.proportional.filter { identities.contains($0.key) }
            s.directories = nil
        }
        if !identities.isEmpty { s.previousIdentities = identities }

        // The cgroup: the configured one, else the target's; never the monitor's own in place of the target's.
        var cgroup: CgroupMemory?
        var cgroupDirectory: String?
        var cgroupUnresolved: String?
        var oomOnly: CgroupMemory?
        var oomDirectory: String?
        if let cgroupOverride {
            switch readCgroup(directory: cgroupOverride, unifiedForPressure: nil) {
            case .success(let memory?):
                cgroup = memory
                cgroupDirectory = cgroupOverride
            case .success(nil): cgroupUnresolved = "\(cgroupOverride) has no memory controller files"
            case .failure(let failure): cgroupUnresolved = "\(cgroupOverride): \(failure)"
            }
        } else if let process {
            let identity = Identity(pid: process.pid, startTicks: process.startTicks)
            switch cgroupDirectories(identity, state: &s, now: now) {
            case .failure(let failure):
                cgroupUnresolved = "/proc/\(process.pid)/cgroup: \(failure)"
            case .success(let dirs):
                switch dirs.memory {
                case .absent: break
                case .unresolved(let reason): cgroupUnresolved = reason
                case .resolved(let directory):
                    switch readCgroup(directory: directory, unifiedForPressure: dirs.unifiedForPressure) {
                    case .success(let memory):
                        cgroup = memory
                        cgroupDirectory = memory == nil ? nil : directory
                    case .failure(let failure): cgroupUnresolved = "\(directory): \(failure)"
                    }
                }
            }
        } else {
            switch targetState {
            case .gone, .unknown:
                cgroupUnresolved = "the target is not up"
                // The OOM killer is the likeliest reason a target vanished: read its last cgroup's counters once more.
                if let last = s.lastCgroupDirectory, case .success(let memory?) = readCgroup(directory: last, unifiedForPressure: nil) {
                    oomOnly = memory
                    oomDirectory = last
                }
                s.lastCgroupDirectory = nil
            case .up: break
            }
        }
        if let cgroupDirectory { s.lastCgroupDirectory = cgroupDirectory }

        // Event counters as deltas of the same cgroup: a new cgroup sets a new baseline.
        var newEvents = MemoryEvents(low: 0, high: 0, max: 0, oom: 0, oomKill: 0)
        if let counted = cgroup ?? oomOnly, let directory = cgroupDirectory ?? oomDirectory {
            let sameCgroup = s.eventBaseline?.directory == directory
            if let base = s.eventBaseline, sameCgroup { newEvents = counted.events.increase(since: base.events) }
            s.eventBaseline = (directory, counted.events.filled(from: sameCgroup ? s.eventBaseline?.events : nil))
        }

        // The monitor watching itself has counted its descriptors already.
        let ownDescriptors = process.flatMap { $0.pids.count == 1 && $0.pid == ownPid ? $0.openFileDescriptors : nil }
        let exporter = readExporter(status: ownParsed, openFileDescriptors: ownDescriptors)
        let pressure: PressureStall? = cgroup?.pressure == nil ? (try? files.read("/proc/pressure/memory", PressureStall.parse).get()) ?? nil : nil
        var sample = Sample(
            timestamp: timestamp, targetDescription: target.description, process: process, targetState: targetState,
            targetChanged: targetChanged, host: host, cgroup: cgroup, cgroupDirectory: cgroupDirectory, cgroupUnresolved: cgroupUnresolved,
            newEvents: newEvents, hostPressure: pressure,
            allocator: collectsAllocatorStatistics ? AllocatorStatistics.current() : nil, exporter: exporter, unavailable: unavailable)
        if case .processMatch = target { sample.targetIsGroup = true }
        sample.pssDeferred = s.pssDeferred
        return sample
    }

    // MARK: Resolving the target

    enum Resolution {
        case found([Identity])
        case gone(String)
        case unknown(String)
    }

    /// The processes to read now.
    func resolve(_ s: inout State) -> Resolution {
        s.parents.removeAll(keepingCapacity: true)
        switch target {
        case .ownProcess:
            return .found([Identity(pid: ownPid, startTicks: ownStartTicks)])
        case .pid(let pid):
            switch startTicks(of: pid) {
            case .failure(let failure) where failure.isMissing: return .gone("no process with pid \(pid)")
            case .failure(let failure): return .unknown("/proc/\(pid)/stat: \(failure)")
            case .success(let start):
                switch s.pinnedStart {
                case .none: s.pinnedStart = .some(start)
                case .some(let pinned) where pinned != start && pinned != nil && start != nil:
                    return .gone("pid \(pid) now belongs to another process (its start time changed)")
                default: break
                }
                return .found([Identity(pid: pid, startTicks: start)])
            }
        case .pidfile(let path):
            switch ProcFile.readOrFail(path) {
            case .failure(let failure) where failure.isMissing: return .gone("pid file \(path) does not exist")
            case .failure(let failure): return .unknown("pid file \(path): \(failure)")
            case .success(let text):
                guard let pid = MonitoredTarget.parsePidfile(text) else { return .gone("pid file \(path) holds no pid") }
                switch startTicks(of: pid) {
                case .failure(let failure) where failure.isMissing: return .gone("no process with pid \(pid) (from \(path))")
                case .failure(let failure): return .unknown("/proc/\(pid)/stat: \(failure)")
                case .success(let start): return .found([Identity(pid: pid, startTicks: start)])
                }
            }
        case .processName(let name):
            let excluded = ownAncestors(&s)
            if let last = s.lastNamedPid, last != ownPid, !excluded.contains(last), matches(pid: last, name: name), let identity = identity(last, &s) {
                return .found([identity])
            }
            let pids: [Int32]
            switch ProcFile.directoryEntries("/proc") {
            case .failure(let failure): return .unknown("/proc: \(failure)")
            case .success(let names): pids = names.compactMap { Int32($0) }.sorted()
            }
            // The lowest live pid: a process of that name that has exited but is not reaped yet (a
            // zombie), is exiting, or left mid-scan is passed over, not taken for the target's end.
            for pid in pids where pid != ownPid && !excluded.contains(pid) && matches(pid: pid, name: name) {
                guard let identity = identity(pid, &s) else { continue }
                s.lastNamedPid = pid
                return .found([identity])
            }
            s.lastNamedPid = nil
            return .gone("no process named \(name)")
        case .processMatch(let pattern):
            guard let regex = matchPattern else { return .gone("the pattern \(pattern) does not compile") }
            let pids: [Int32]
            switch ProcFile.directoryEntries("/proc") {
            case .failure(let failure): return .unknown("/proc: \(failure)")
            case .success(let names): pids = names.compactMap { Int32($0) }.sorted()
            }
            var members: [Identity] = []
            // The monitor's wrapper (timeout, sh -c, tini, sudo) holds the pattern in its own command line.
            let excluded = ownAncestors(&s)
            for pid in pids where pid != ownPid && !excluded.contains(pid) {
                // Kernel threads have an empty command line; a process that exited mid-scan is skipped.
                guard let raw = ProcFile.read("/proc/\(pid)/cmdline", singleRecord: true), !raw.isEmpty,
                    MonitoredTarget.commandLineMatches(regex, commandLine: MonitoredTarget.commandLine(raw))
                else { continue }
                if let identity = identity(pid, &s) { members.append(identity) }
            }
            return members.isEmpty ? .gone("no process's command line matches \(pattern)") : .found(members)
        }
    }

    /// The start time of a live process; a zombie counts as missing (it has exited, its parent
    /// has not reaped it yet), and so does a process that is exiting (its memory is being freed).
    private func startTicks(of pid: Int32) -> Result<UInt64?, ReadFailure> { liveStat(of: pid).map { $0?.startTicks } }

    private func liveStat(of pid: Int32) -> Result<ProcessStat?, ReadFailure> {
        switch ProcFile.parseOrFail("/proc/\(pid)/stat", singleRecord: true, ProcessStat.parse) {
        case .failure(let failure): return .failure(failure)
        case .success(let stat):
            if stat?.hasExited == true || stat?.isExiting == true { return .failure(ReadFailure(code: ESRCH)) }
            return .success(stat)
        }
    }

    /// The identity of a live process (nil when it has gone); its parent is noted in `parents`.
    private func identity(_ pid: Int32, _ s: inout State) -> Identity? {
        switch liveStat(of: pid) {
        case .success(let stat):
            if let stat { s.parents[pid] = stat.parentPid }
            return Identity(pid: pid, startTicks: stat?.startTicks)
        case .failure(let failure): return failure.isMissing ? nil : Identity(pid: pid, startTicks: nil)
        }
    }

    /// The monitor's ancestors, walked again only when its parent changed.
    private func ownAncestors(_ s: inout State) -> Set<Int32> {
        let parent = getppid()
        if let known = s.ownAncestors, known.parent == parent { return known.pids }
        let pids = ProcessTree.ownAncestors()
        s.ownAncestors = (parent, pids)
        return pids
    }

    private func matches(pid: Int32, name: String) -> Bool {
        guard let comm = ProcFile.read("/proc/\(pid)/comm", singleRecord: true) else { return false }
        let trimmed = comm.hasSuffix("\n") ? String(comm.dropLast()) : comm
        let cmdline = name.utf8.count > 15 ? ProcFile.read("/proc/\(pid)/cmdline", singleRecord: true) : nil
        return MonitoredTarget.nameMatches(name, comm: trimmed, cmdline: cmdline)
    }

    // MARK: Reading the target

    enum Reading {
        case found(Sample.TargetProcess, [Identity])
        case gone(String)
        case unknown(String)
    }

    /// Reads every member; members that exited since resolution are left out.
    private func read(
        members: [Identity], ownStatus: ProcessStatus?, ownStatusFailure: Result<ProcessStatus?, ReadFailure>, state s: inout State,
        now: ContinuousClock.Instant
    ) -> Reading {
        var read: [(Identity, ProcessStatus)] = []
        var killed = 0
        for member in members {
            if member.pid == ownPid {
                if let ownStatus { read.append((member, ownStatus)); continue }
                if case .failure(let failure) = ownStatusFailure { return .unknown("/proc/self/status: \(failure)") }
                return .unknown("/proc/self/status could not be parsed")
            }
            switch ProcFile.parseOrFail("/proc/\(member.pid)/status", singleRecord: true, ProcessStatus.parse) {
            case .failure(let failure) where failure.isMissing: continue
            case .failure(let failure): return .unknown("/proc/\(member.pid)/status: \(failure)")
            case .success(let parsed):
                // A process that exited mid-read leaves an empty or partial file.
                guard let status = parsed else { continue }
                // Killed and not yet exited: its memory is being freed, which is no recovery.
                if status.killPending {
                    killed += 1
                    continue
                }
                read.append((member, status))
            }
        }
        guard let first = read.first else {
            return .gone(killed > 0 ? "the process was killed (SIGKILL is pending; it has not exited yet)" : "the process exited")
        }
        var total = first.1
        var unavailable: [String: String] = [:]
        var proportional: UInt64? = 0
        var fds: Int? = 0
        let clock = ContinuousClock()
        var spent = Duration.zero
        var pending = 0
        var readsThisCheck = 0
        for (index, (member, status)) in read.enumerated() {
            if index > 0 {
                total.residentBytes = sum(total.residentBytes, status.residentBytes)
                total.anonymousBytes = sum(total.anonymousBytes, status.anonymousBytes)
                total.virtualBytes = sum(total.virtualBytes, status.virtualBytes)
                total.swappedBytes = sum(total.swappedBytes, status.swappedBytes)
                total.peakResidentBytes = sum(total.peakResidentBytes, status.peakResidentBytes)
                total.threads = sum(total.threads, status.threads)
            }
            let pss: (bytes: UInt64?, reason: String?)
            let cached = s.proportional[member]
            if let cached, now - cached.at < proportionalRefresh {
                pss = (cached.bytes, cached.reason)
            } else if readsThisCheck > 0 && spent >= proportionalBudget {
                // Over budget: the last reading stands in (it is at most a few checks older), or
                // this process waits for a later check.
                s.pssDeferred += 1
                if let cached { pss = (cached.bytes, cached.reason) } else {
                    pending += 1
                    pss = (nil, nil)
                }
            } else {
                // At least one read per check, so a group is always read in full eventually.
                let started = clock.now
                pss = proportionalBytes(member, state: &s, now: now)
                spent += clock.now - started
                readsThisCheck += 1
            }
            if let bytes = pss.bytes { proportional = proportional.map { $0 + bytes } } else {
                proportional = nil
                if let reason = pss.reason { unavailable["pss_mb"] = "/proc/\(member.pid)/smaps_rollup: \(reason)" }
            }
            let process = member.pid == ownPid ? nil : member.pid
            switch ProcFile.openDescriptors(ofProcess: process) {
            case .success(let count): fds = fds.map { $0 + count }
            case .failure(let failure):
                fds = nil
                unavailable["open_fds"] = "\(ProcFile.descriptorDirectory(ofProcess: process)): \(failure)"
            }
        }
        if pending > 0 && unavailable["pss_mb"] == nil {
            unavailable["pss_mb"] =
                "Pss of \(pending) of \(read.count) processes not read yet: reading smaps_rollup may take \(Int(proportionalBudget.seconds * 1000)) ms per check (monitoring.pss_budget_seconds), the rest follow at the next checks"
        }
        let pids = read.map(\.0.pid)
        let shape = ProcessTree.shape(members: pids, knownParents: s.parents)
        let shaped = read.map {
            Sample.TargetProcess.Member(
                pid: $0.0.pid, startTicks: $0.0.startTicks, isRoot: shape.roots.contains($0.0.pid), isLeaf: shape.leaves.contains($0.0.pid))
        }
        return .found(
            Sample.TargetProcess(
                pid: first.0.pid, pids: pids, startTicks: first.0.startTicks, status: total, proportionalBytes: proportional,
                openFileDescriptors: fds, unavailable: unavailable, members: shaped), read.map(\.0))
    }

    private func sum(_ a: UInt64?, _ b: UInt64?) -> UInt64? {
        guard let a, let b else { return a ?? b }
        return a + b
    }

    /// Pss of a process, read at most once per `proportionalRefresh` (and at once for a new process).
    private func proportionalBytes(_ identity: Identity, state s: inout State, now: ContinuousClock.Instant) -> (bytes: UInt64?, reason: String?) {
        if let cached = s.proportional[identity], now - cached.at < proportionalRefresh { return (cached.bytes, cached.reason) }
        let path = identity.pid == ownPid ? "/proc/self/smaps_rollup" : "/proc/\(identity.pid)/smaps_rollup"
        let result: (bytes: UInt64?, reason: String?)
        switch ProcFile.parseOrFail(path, singleRecord: true, SmapsRollup.parse) {
        case .success(let rollup):
            let bytes = rollup?.proportionalBytes
            result = (bytes, bytes == nil ? "no Pss line (kernel before 4.14?)" : nil)
        case .failure(let failure) where failure.code == EACCES || failure.code == EPERM:
            result = (nil, "permission denied (reading another user's smaps_rollup needs CAP_SYS_PTRACE)")
        case .failure(let failure):
            result = (nil, failure.description)
        }
        // A failure other than permission (EMFILE) is retried at the next check, not cached.
        if result.bytes != nil || result.reason?.hasPrefix("permission") == true { s.proportional[identity] = (result.bytes, result.reason, now) }
        return result
    }

    // MARK: Cgroups

    /// Where the target's memory figures are, re-resolved when the process changes or every
    /// `membershipRefresh` (a process is rarely moved between cgroups).
    private func cgroupDirectories(_ identity: Identity, state s: inout State, now: ContinuousClock.Instant)
        -> Result<(memory: CgroupMembership.Directory, unifiedForPressure: String?), ReadFailure>
    {
        if let cached = s.directories, cached.identity == identity, now - cached.at < membershipRefresh {
            return .success((cached.memory, cached.unifiedForPressure))
        }
        let path = identity.pid == ownPid ? "/proc/self/cgroup" : "/proc/\(identity.pid)/cgroup"
        return ProcFile.readOrFail(path, singleRecord: true).map { text in
            let membership = CgroupMembership.parse(text)
            var chosen = Self.choose(membership, in: mounts)
            // A sidecar's own cgroup mounts show only its own cgroup. The target's mount namespace
            // shows the target's (a container mounts its cgroup at its /sys/fs/cgroup): read it
            // through /proc/PID/root (this needs what reading its smaps needs: the same user or
            // CAP_SYS_PTRACE). Still the target's own cgroup, never another's.
            if case .unresolved(let reason) = chosen.memory, identity.pid != ownPid {
                let prefix = "/proc/\(identity.pid)/root"
                if case .success(let text) = ProcFile.readOrFail("/proc/\(identity.pid)/mountinfo", singleRecord: false) {
                    let theirs = Self.choose(membership, in: CgroupMounts.parse(text).reached(through: prefix))
                    if case .resolved = theirs.memory {
                        chosen = theirs
                    } else if case .unresolved(let second) = theirs.memory {
                        chosen.memory = .unresolved("\(reason); through the target's own mounts: \(second)")
                    }
                }
            }
            s.directories = (identity, chosen.memory, chosen.unifiedForPressure, now)
            return chosen
        }
    }

    /// The monitor's own resident bytes now (VmRSS): what an in-process action is measured by,
    /// without a whole check between its before and after.
    static func ownResidentBytes() -> UInt64? {
        ProcFile.read("/proc/self/status").flatMap(ProcessStatus.parse)?.residentBytes
    }

    /// The memory directory and the unified one for PSI, from one set of mounts.
    static func choose(_ membership: CgroupMembership, in mounts: CgroupMounts) -> (memory: CgroupMembership.Directory, unifiedForPressure: String?) {
        let dirs = membership.directories(in: mounts) { access($0, F_OK) == 0 }
        // Hybrid hosts: the memory controller is on v1, while PSI may be on the unified tree.
        if case .resolved(let unified) = dirs.unified,
            mounts.memoryV1 == nil || access(unified + "/memory.current", F_OK) == 0 || access(unified + "/memory.max", F_OK) == 0
        {
            return (dirs.unified, nil)
        }
        return (mounts.memoryV1 != nil ? dirs.memoryV1 : dirs.unified, dirs.unified.path)
    }

    /// Reads a cgroup directory (v2 files first, else v1). Nil when it has no memory files; a
    /// failure when a file exists but cannot be read (the figures are then unknown, not absent).
    private func readCgroup(directory: String, unifiedForPressure: String?) -> Result<CgroupMemory?, ReadFailure> {
        var failure: ReadFailure?
        let read: CgroupMemory.FileReader = { path, parse in
            switch self.files.read(path, parse) {
            case .success: return true
            case .failure(let f):
                if !f.isMissing && failure == nil { failure = f }
                return false
            }
        }
        // A directory's kind does not change: once it read as v1, the v2 files are not probed
        // again (each probe is a failed path lookup per check).
        let known = cgroupVersions.withLock { $0[directory] }
        var memory = known == .v1 ? nil : CgroupMemory.readV2(directory: directory, reader: read)
        if memory == nil { memory = CgroupMemory.readV1(directory: directory, reader: read) }
        if memory == nil && known == .v1 { memory = CgroupMemory.readV2(directory: directory, reader: read) }
        cgroupVersions.withLock { versions in
            if versions.count >= 8 { versions.removeAll() }
            versions[directory] = memory?.version
        }
        if let failure { return .failure(failure) }
        if memory?.version == .v1, let unifiedForPressure {
            memory?.pressure = (try? files.read(unifiedForPressure + "/memory.pressure", PressureStall.parse).get()) ?? nil
        }
        return .success(memory)
    }

    // MARK: The monitor itself

    private func readExporter(status: ProcessStatus?, openFileDescriptors: Int?) -> Sample.ExporterProcess {
        var exporter = Sample.ExporterProcess()
        exporter.residentBytes = status?.residentBytes
        exporter.virtualBytes = status?.virtualBytes
        // getrusage: one system call instead of reading and parsing /proc/self/stat.
        var usage = rusage()
        if getrusage(RUSAGE_SELF.rawValue, &usage) == 0 {
            exporter.cpuSeconds = Double(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec) + Double(usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) / 1e6
        }
        exporter.startTimeSeconds = ownStartTime
        exporter.openFileDescriptors = openFileDescriptors ?? (try? ProcFile.openDescriptors(ofProcess: nil).get())
        var limit = rlimit()
        if getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit) == 0 { exporter.maxFileDescriptors = UInt64(limit.rlim_cur) }
        return exporter
    }
}
