import Foundation
import Testing
@testable import MemoryMonitor
import TestSupport

@Suite("Parsers of /proc and cgroup files", .offCooperativePool)
struct ProcParserTests {
    @Test func meminfoFromDebian12() throws {
        let info = try #require(MemInfo.parse(fixture("meminfo-debian12-noswap.txt")))
        #expect(info.totalBytes == 24_731_708 * 1024)
        #expect(info.availableBytes == 24_392_952 * 1024)
        #expect(info.freeBytes == 22_855_968 * 1024)
        #expect(info.buffersBytes == 51_984 * 1024)
        #expect(info.swapTotalBytes == 0)
        #expect(info.usedBytes == (24_731_708 - 24_392_952) * 1024)
    }

    @Test func meminfoWithoutMemAvailableEstimatesIt() throws {
        let info = try #require(MemInfo.parse(fixture("meminfo-no-memavailable.txt")))
        #expect(info.availableBytes == (22_855_968 + 51_984 + 1_663_988) * 1024)
    }

    @Test func meminfoWithSwap() throws {
        let info = try #require(MemInfo.parse(fixture("meminfo-with-swap.txt")))
        #expect(info.swapUsedBytes == (4_194_304 - 3_145_728) * 1024)
    }

    @Test(arguments: ["", "garbage\n", "MemFree: 12 kB\n"])
    func meminfoWithoutTotalIsNil(_ text: String) {
        #expect(MemInfo.parse(text) == nil)
    }

    @Test func statusOfUserProcess() throws {
        let status = try #require(ProcessStatus.parse(fixture("status-cat.txt")))
        #expect(status.name == "cat")
        #expect(status.residentBytes == 1772 * 1024)
        #expect(status.virtualBytes == 3060 * 1024)
        #expect(status.peakResidentBytes == 1772 * 1024)
        #expect(status.swappedBytes == 0)
        #expect(status.threads == 1)
    }

    /// SIGKILL pending (ShdPnd bit 8): the process was killed and has not exited; its memory is
    /// being freed. Other pending signals (SIGTERM, bit 14) are not a kill.
    @Test func statusNamesAPendingKill() throws {
        let text = fixture("status-cat.txt")
        #expect(ProcessStatus.parse(text)?.killPending == false)
        let killed = text.replacingOccurrences(of: "ShdPnd:\t0000000000000000", with: "ShdPnd:\t0000000000000100")
        #expect(killed != text)
        let status = try #require(ProcessStatus.parse(killed))
        #expect(status.killPending)
        #expect(status.residentBytes == 1772 * 1024 && status.threads == 1)
        let terminated = text.replacingOccurrences(of: "ShdPnd:\t0000000000000000", with: "ShdPnd:\t0000000000004000")
        #expect(ProcessStatus.parse(terminated)?.killPending == false)
        #expect(ProcessStatus.parse(text.replacingOccurrences(of: "ShdPnd:\t0000000000000000", with: "ShdPnd:\t0000000000000f00"))?.killPending == true)
        #expect(ProcessStatus.parse(try String(contentsOfFile: "/proc/self/status", encoding: .utf8))?.killPending == false)
    }

    @Test func statusOfKernelThreadHasNoMemory() throws {
        let status = try #require(ProcessStatus.parse(fixture("status-kthread.txt")))
        #expect(status.name == "kthreadd")
        #expect(status.residentBytes == nil)
        #expect(status.virtualBytes == nil)
        #expect(status.threads == 1)
    }

    @Test func statusTruncatedOrEmpty() {
        #expect(ProcessStatus.parse(fixture("empty.txt")) == nil)
        #expect(ProcessStatus.parse("Umask:\t0022\n") == nil)
    }

    @Test func smapsRollup() throws {
        let rollup = try #require(SmapsRollup.parse(fixture("smaps_rollup.txt")))
        #expect(rollup.proportionalBytes == 816 * 1024)
        #expect(rollup.residentBytes == 1772 * 1024)
        #expect(SmapsRollup.parse("") == nil)
    }

    @Test func hostPressureWithZeros() throws {
        let psi = try #require(PressureStall.parse(fixture("pressure-memory.txt")))
        #expect(psi.some.avg10Ratio == 0)
        #expect(psi.full != nil)
    }

    @Test func cgroupPressureConvertsUnits() throws {
        let psi = try #require(PressureStall.parse(fixture("cgroup2-memory.pressure.txt")))
        #expect(psi.some.avg10Ratio == 0.0125)
        #expect(psi.some.totalSeconds == 12.345678)
        #expect(psi.full?.avg60Ratio == 0.0025)
    }

    @Test func noPSIIsNil() {
        #expect(PressureStall.parse("") == nil)
        #expect(PressureStall.parse("some avg10=x\n") == nil)
    }

    @Test func processStatCountsFieldsFromLastParenthesis() throws {
        let stat = try #require(ProcessStat.parse(fixture("stat-odd-comm.txt")))
        #expect(stat.cpuTicks == 400)
        #expect(stat.startTicks == 98765)
        let real = try #require(ProcessStat.parse(fixture("stat-cat.txt")))
        #expect(real.state == "R")
        #expect(!real.hasExited)
        #expect(!real.isExiting)
        #expect(real.startTicks == 10345)
        // Field 9, the task flags: PF_EXITING (0x4) set while the process exits.
        let fields = fixture("stat-cat.txt").split(separator: " ", omittingEmptySubsequences: false)
        var exiting = fields
        exiting[8] = Substring(String(UInt64(fields[8])! | 0x4))
        #expect(ProcessStat.parse(exiting.joined(separator: " "))?.isExiting == true)
        #expect(ProcessStat.parse(try String(contentsOfFile: "/proc/self/stat", encoding: .utf8))?.isExiting == false)
        #expect(ProcessStat.parse("12 (x) S 1") == nil)
        #expect(ProcessStat.parseBootTime("cpu 1 2\nbtime 1700000000\n") == 1_700_000_000)
    }

    /// The parsers stop once they have every key they want (the rest of the file is not
    /// scanned), and read to the end when one is missing.
    @Test func parsersStopOnceEveryKeyIsSeen() throws {
        let status = "Name:\tx\nVmHWM:\t8 kB\nVmRSS:\t4 kB\nRssAnon:\t2 kB\nVmSize:\t16 kB\nVmSwap:\t0 kB\nThreads:\t3\nShdPnd:\t0000000000000000\nVmRSS:\t999 kB\n"
        #expect(ProcessStatus.parse(status)?.residentBytes == 4096)
        // No RssAnon (a kernel before 4.5): the later lines are read, the last VmRSS counts.
        let old = status.replacingOccurrences(of: "RssAnon:\t2 kB\n", with: "")
        #expect(ProcessStatus.parse(old)?.residentBytes == 999 * 1024)
        #expect(ProcessStatus.parse(old)?.threads == 3)
        let meminfo = "MemTotal: 100 kB\nMemFree: 10 kB\nMemAvailable: 50 kB\nBuffers: 1 kB\nCached: 2 kB\nSwapTotal: 0 kB\nSwapFree: 0 kB\nMemTotal: 7 kB\n"
        #expect(MemInfo.parse(meminfo)?.totalBytes == 100 * 1024)
    }

    /// The byte scanner reads every process on this host as splitting the text on spaces does.
    @Test func processStatMatchesASplitOnEveryProcessHere() throws {
        var compared = 0
        for pid in try FileManager.default.contentsOfDirectory(atPath: "/proc").compactMap({ Int32($0) }) {
            guard let text = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8), let close = text.lastIndex(of: ")") else { continue }
            let fields = text[text.index(after: close)...].split(separator: " ")
            let parsed = try #require(ProcessStat.parse(text), "pid \(pid): \(text)")
            #expect(parsed.state == fields[0].first, "pid \(pid)")
            #expect(parsed.cpuTicks == UInt64(fields[11])! + UInt64(fields[12])!, "pid \(pid)")
            #expect(parsed.startTicks == UInt64(fields[19]), "pid \(pid)")
            compared += 1
        }
        #expect(compared > 20)
        #expect(ProcessStat.parse("1 (a) b) Z 0 0 0 0 0 0 0 0 0 0 7 8 0 0 20 0 1 0 99 0 0\n") == ProcessStat(cpuTicks: 15, startTicks: 99, state: "Z"))
    }
}

@Suite("cgroup discovery and reading", .offCooperativePool)
struct CgroupTests {
    @Test func mountsOnHybridHost() {
        let mounts = CgroupMounts.parse(fixture("mountinfo-hybrid.txt"))
        #expect(mounts.unified == "/sys/fs/cgroup/unified")
        #expect(mounts.memoryV1 == "/sys/fs/cgroup/memory")
    }

    @Test func mountsOnUnifiedHost() {
        let mounts = CgroupMounts.parse(fixture("mountinfo-v2.txt"))
        #expect(mounts.unified == "/sys/fs/cgroup")
        #expect(mounts.memoryV1 == nil)
    }

    @Test func membershipHybrid() {
        let m = CgroupMembership.parse(fixture("cgroup-hybrid.txt"))
        #expect(m.unifiedPath == "/")
        #expect(m.memoryV1Path?.hasPrefix("/process_api/") == true)
    }

    @Test func membershipUnifiedResolvesOrSaysUnresolved() {
        let m = CgroupMembership.parse(fixture("cgroup-v2-only.txt"))
        #expect(m.unifiedPath == "/system.slice/docker-4f1c.scope")
        let mounts = CgroupMounts(unified: "/sys/fs/cgroup")
        #expect(m.directories(in: mounts) { _ in true }.unified == .resolved("/sys/fs/cgroup/system.slice/docker-4f1c.scope"))
        // A path that is not visible is unresolved: never the mount point (another cgroup's figures).
        guard case .unresolved = m.directories(in: mounts, exists: { _ in false }).unified else {
            Issue.record("an invisible cgroup directory must be unresolved"); return
        }
    }

    /// Under `unshare --cgroup` (a container's cgroup namespace) another process's cgroup reads
    /// `/../name` (captured on this machine's v1 memory hierarchy): outside the namespace, so
    /// unresolved, not the mount root.
    @Test func namespacePathOutsideIsUnresolved() {
        let m = CgroupMembership.parse(fixture("cgroup-namespace-outside.txt"))
        #expect(m.memoryV1Path == "/../mm-fixture-a")
        let mounts = CgroupMounts.parse(fixture("mountinfo-hybrid.txt"))
        let dirs = m.directories(in: mounts) { _ in true }
        guard case .unresolved(let reason) = dirs.memoryV1 else { Issue.record("expected unresolved, got \(dirs.memoryV1)"); return }
        #expect(reason.contains("outside this monitor's cgroup namespace"))
    }

    /// A container without its own cgroup namespace: /proc/self/cgroup names the full path and
    /// the mount shows that cgroup at its root (mountinfo field 4), so the path maps to the mount point.
    @Test func mountRootMapsTheFullPath() {
        let mounts = CgroupMounts(unified: "/sys/fs/cgroup", unifiedRoot: "/kubepods/pod1/c1")
        let own = CgroupMembership(unifiedPath: "/kubepods/pod1/c1")
        #expect(own.directories(in: mounts) { _ in true }.unified == .resolved("/sys/fs/cgroup"))
        let child = CgroupMembership(unifiedPath: "/kubepods/pod1/c1/worker")
        #expect(child.directories(in: mounts) { _ in true }.unified == .resolved("/sys/fs/cgroup/worker"))
        let other = CgroupMembership(unifiedPath: "/kubepods/pod2/c9")
        guard case .unresolved = other.directories(in: mounts, exists: { _ in true }).unified else {
            Issue.record("another pod's cgroup must be unresolved"); return
        }
    }

    /// A sidecar (compose `pid: service:app`) sees only its own cgroup in its mounts; the app's
    /// mount namespace, through /proc/PID/root, shows the app's own cgroup: v1 (this machine) and
    /// v2 with a private cgroup namespace, where both the path and the app's mount root read
    /// `/../name`. Another cgroup than the target's own still does not resolve.
    @Test func aSidecarReachesItsTargetsCgroupThroughTheTargetsMounts() {
        let sidecar = CgroupMounts(memoryV1: "/sys/fs/cgroup/memory", memoryV1Root: "/docker/sidecar")
        let app = CgroupMembership(memoryV1Path: "/docker/app")
        guard case .unresolved = app.directories(in: sidecar, exists: { _ in true }).memoryV1 else {
            Issue.record("the sidecar's own mount must not resolve the app's cgroup"); return
        }
        let appMounts = CgroupMounts.parse(
            "30 25 0:26 /docker/app /sys/fs/cgroup/memory ro,nosuid,nodev,noexec,relatime master:12 - cgroup cgroup rw,memory\n"
        ).reached(through: "/proc/42/root")
        #expect(appMounts.memoryV1 == "/proc/42/root/sys/fs/cgroup/memory")
        #expect(app.directories(in: appMounts) { _ in true }.memoryV1 == .resolved("/proc/42/root/sys/fs/cgroup/memory"))
        let worker = CgroupMembership(memoryV1Path: "/docker/app/worker")
        #expect(worker.directories(in: appMounts) { _ in true }.memoryV1 == .resolved("/proc/42/root/sys/fs/cgroup/memory/worker"))
        let stranger = CgroupMembership(memoryV1Path: "/docker/other")
        guard case .unresolved = stranger.directories(in: appMounts, exists: { _ in true }).memoryV1 else {
            Issue.record("another container's cgroup must stay unresolved"); return
        }

        // cgroup v2, private cgroup namespaces (Docker's default there): the sidecar reads /../app.
        let v2App = CgroupMembership.parse("0::/../docker-app.scope\n")
        let v2Sidecar = CgroupMounts.parse("40 30 0:27 / /sys/fs/cgroup ro,nosuid,nodev,noexec,relatime - cgroup2 cgroup2 rw\n")
        guard case .unresolved(let reason) = v2App.directories(in: v2Sidecar, exists: { _ in true }).unified else {
            Issue.record("outside the sidecar's namespace: unresolved in its own mounts"); return
        }
        #expect(reason.contains("outside this monitor's cgroup namespace"))
        let v2AppMounts = CgroupMounts.parse(
            "50 45 0:27 /../docker-app.scope /sys/fs/cgroup ro,nosuid,nodev,noexec,relatime - cgroup2 cgroup2 rw\n"
        ).reached(through: "/proc/42/root")
        #expect(v2App.directories(in: v2AppMounts) { _ in true }.unified == .resolved("/proc/42/root/sys/fs/cgroup"))
        let v2Other = CgroupMembership.parse("0::/../docker-other.scope\n")
        guard case .unresolved = v2Other.directories(in: v2AppMounts, exists: { _ in true }).unified else {
            Issue.record("another scope outside the namespace must stay unresolved"); return
        }
    }

    @Test func limits() {
        #expect(CgroupMemory.parseLimit(fixture("cgroup2-memory.max-unlimited.txt")) == .some(nil))
        #expect(CgroupMemory.parseLimit(fixture("cgroup2-memory.max-512m.txt")) == .some(536_870_912))
        #expect(CgroupMemory.parseLimit("9223372036854771712\n") == .some(nil))
        #expect(CgroupMemory.parseLimit("bogus") == nil)
    }

    @Test func readV2WithLimit() throws {
        let files = [
            "/cg/memory.current": "314572800\n",
            "/cg/memory.max": fixture("cgroup2-memory.max-512m.txt"),
            "/cg/memory.stat": fixture("cgroup2-memory.stat.txt"),
            "/cg/memory.events": fixture("cgroup2-memory.events.txt"),
            "/cg/memory.pressure": fixture("cgroup2-memory.pressure.txt"),
        ]
        let memory = try #require(CgroupMemory.readV2(directory: "/cg") { files[$0] })
        #expect(memory.version == .v2)
        #expect(memory.usageBytes == 314_572_800)
        #expect(memory.limitBytes == 536_870_912)
        #expect(memory.inactiveFileBytes == 157_286_400)
        #expect(memory.workingSetBytes == 314_572_800 - 157_286_400)
        #expect(memory.oomEvents == 2)
        #expect(memory.oomKills == 1)
        #expect(memory.pressure?.some.avg10Ratio == 0.0125)
    }

    @Test func readV2UnlimitedWithoutPSI() throws {
        let files = ["/cg/memory.current": "1000\n", "/cg/memory.max": "max\n"]
        let memory = try #require(CgroupMemory.readV2(directory: "/cg") { files[$0] })
        #expect(memory.limitBytes == nil)
        #expect(memory.pressure == nil)
        #expect(memory.oomKills == nil)
    }

    @Test func readV2WithoutMemoryController() {
        let files = ["/cg/memory.pressure": fixture("pressure-memory.txt")]
        #expect(CgroupMemory.readV2(directory: "/cg") { files[$0] } == nil)
    }

    @Test func readV1() throws {
        let files = [
            "/m/memory.usage_in_bytes": "2000000\n", "/m/memory.limit_in_bytes": "1048576000\n",
            "/m/memory.stat": "cache 10\ninactive_file 5\ntotal_inactive_file 500000\n",
            "/m/memory.oom_control": "oom_kill_disable 0\nunder_oom 0\noom_kill 3\n",
        ]
        let memory = try #require(CgroupMemory.readV1(directory: "/m") { files[$0] })
        #expect(memory.version == .v1)
        #expect(memory.limitBytes == 1_048_576_000)
        #expect(memory.workingSetBytes == 1_500_000)
        #expect(memory.oomKills == 3)
    }
}

@Suite("Effective limit", .offCooperativePool)
struct EffectiveLimitTests {
    let host = MemInfo(totalBytes: 8 << 30, availableBytes: 6 << 30)

    @Test func containerLimitBelowHostWins() {
        let cgroup = CgroupMemory(version: .v2, usageBytes: 300 << 20, limitBytes: 512 << 20, inactiveFileBytes: 100 << 20)
        let limit = EffectiveLimit(host: host, cgroup: cgroup)
        #expect(limit.source == .cgroup)
        #expect(limit.limitBytes == 512 << 20)
        #expect(limit.usedBytes == 200 << 20)
        #expect(limit.usedRatio == 200.0 / 512.0)
        #expect(limit.availableBytes == 312 << 20)
    }

    @Test(arguments: [UInt64?.none, .some(16 << 30)])
    func noLimitOrLimitAboveHostMeansHost(_ cgroupLimit: UInt64?) {
        let cgroup = CgroupMemory(version: .v2, usageBytes: 300 << 20, limitBytes: cgroupLimit)
        let limit = EffectiveLimit(host: host, cgroup: cgroup)
        #expect(limit.source == .host)
        #expect(limit.limitBytes == 8 << 30)
        #expect(limit.usedBytes == 2 << 30)
    }
}

@Suite("Target helpers", .offCooperativePool)
struct TargetTests {
    @Test(arguments: [("1234\n", Int32?.some(1234)), ("  42  ", 42), ("", nil), ("abc", nil), ("-5", nil), ("0", nil)])
    func pidfile(_ text: String, _ expected: Int32?) {
        #expect(MonitoredTarget.parsePidfile(text) == expected)
    }

    @Test func nameMatching() {
        #expect(MonitoredTarget.nameMatches("postgres", comm: "postgres", cmdline: nil))
        #expect(!MonitoredTarget.nameMatches("postgres", comm: "postgres: walw", cmdline: nil))
        let long = "flight-crawler-worker"
        #expect(MonitoredTarget.nameMatches(long, comm: "flight-crawler-", cmdline: "/usr/bin/flight-crawler-worker\u{0}--x\u{0}"))
        #expect(!MonitoredTarget.nameMatches(long, comm: "flight-crawler-", cmdline: "/usr/bin/other\u{0}"))
    }
}
