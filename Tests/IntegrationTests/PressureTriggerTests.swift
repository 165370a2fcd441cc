import Foundation
import TestSupport
import Testing

/// The PSI trigger as the kernel answers it: armed where allowed, a stated fallback to the
/// interval where the kernel refuses the trigger.
@Suite("Memory pressure trigger", .serialized, .offCooperativePool)
struct PressureTriggerTests {
    func counter(_ text: String, _ name: String) -> Double? {
        text.split(separator: "\n").first { $0.hasPrefix(name + " ") }.flatMap { Double($0.split(separator: " ").last ?? "") }
    }

    func triggerState(_ exporter: Exporter) -> [String: Any] {
        ((try? exporter.health("/health/memory"))?["pressure_trigger"] as? [String: Any]) ?? [:]
    }

    /// The default trigger (200 ms of stall within 2 s) arms on the host's PSI file, also for an
    /// unprivileged user (Linux allows unprivileged triggers with 2 s windows).
    @Test(arguments: [false, true])
    func defaultTriggerArms(unprivileged: Bool) throws {
        guard FileManager.default.fileExists(atPath: "/proc/pressure/memory") else {
            print("SKIP defaultTriggerArms: this kernel has no PSI (/proc/pressure/memory)")
            Issue.record("no PSI on this machine")
            return
        }
        let exporter = try Exporter(["--check-interval", "0.5"], wrapper: unprivileged ? Unprivileged.setpriv : [])
        defer { exporter.stop() }
        var state: [String: Any] = [:]
        #expect(waitFor(10) { state = triggerState(exporter); return state["state"] as? String == "armed" }, "\(state)")
        #expect(state["path"] as? String == "/proc/pressure/memory")
        #expect(exporter.child.stderr.contains("memory pressure trigger armed"))
        #expect(try exporter.metrics().bodyText.contains("memory_pressure_triggers_total 0"))
    }

    /// A real memory stall fires the trigger and runs checks between ticks. The stall: a process
    /// in a 40 MiB memory cgroup reads pages of a 56 MiB file it wrote, at random, so its page
    /// cache is reclaimed and read back all the time (refaults of the working set count as memory
    /// stall in PSI; no swap needed). The check interval is 60 s and scrapes never force a check
    /// (`scrape_max_age_seconds` 3600), so every check after the first is the trigger's; there is
    /// at most one such check a second.
    @Test func memoryStallRunsACheckAtOnce() throws {
        guard let memoryCgroup = try MemoryCgroup(prefix: "mm-psi", limitBytes: 40 << 20) else { return }
        defer { memoryCgroup.remove() }
        let cgroup = memoryCgroup.path
        let file = "/var/tmp/mm-psi-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: file) }

        let exporter = try Exporter(["--check-interval", "60"], config: #"{"monitoring": {"scrape_max_age_seconds": 3600}}"#)
        defer { exporter.stop() }
        #expect(waitFor(10) { triggerState(exporter)["state"] as? String == "armed" })
        let checksBefore = (try exporter.health("/health/metrics/history?hours=1")["count"] as? Int) ?? 0
        #expect(checksBefore == 1)

        let thrash = """
            import mmap, random, sys, time
            with open(sys.argv[1], "wb") as f:
                for _ in range(56): f.write(random.randbytes(1 << 20))
            with open(sys.argv[1], "rb") as f:
                m = mmap.mmap(f.fileno(), 0, prot=mmap.PROT_READ)
                pages, end, total = len(m) // 4096, time.time() + float(sys.argv[2]), 0
                while time.time() < end:
                    for _ in range(2000): total += m[random.randrange(pages) * 4096]
            """
        let started = Date()
        let stall = try ChildProcess("/bin/sh", ["-c", "echo $$ > \(cgroup)/cgroup.procs && exec python3 -c '\(thrash)' \(file) 8"])
        defer { _ = stall.stop() }
        var metrics = ""
        #expect(waitFor(15) {
            metrics = (try? exporter.metrics().bodyText) ?? ""
            return (counter(metrics, "memory_pressure_triggers_total") ?? 0) >= 1
        }, "no trigger; /proc/pressure/memory: \((try? String(contentsOfFile: "/proc/pressure/memory", encoding: .utf8)) ?? "?"); log: \(stall.stderr)")
        #expect(waitFor(10) { ((try? exporter.health("/health/metrics/history?hours=1"))?["count"] as? Int ?? 0) > checksBefore })
        _ = stall.waitForExit(seconds: 15)
        let checks = (try exporter.health("/health/metrics/history?hours=1")["count"] as? Int) ?? 0
        let seconds = Date().timeIntervalSince(started)
        #expect(checks - checksBefore <= Int(seconds.rounded(.up)) + 1, "\(checks - checksBefore) checks in \(seconds) s")
        let triggers = counter(try exporter.metrics().bodyText, "memory_pressure_triggers_total") ?? 0
        print("NOTE memoryStallRunsACheckAtOnce: \(Int(triggers)) trigger(s), \(checks - checksBefore) check(s) in \(Int(seconds)) s")
    }

    /// A trigger the monitor may not arm (an unprivileged monitor and a root-owned cgroup v2
    /// `memory.pressure`, given with `--cgroup`): /health/memory and the log say why, and checks
    /// go on at the interval.
    @Test func refusedTriggerFallsBackToTheInterval() throws {
        let directory = "/tmp/mm-cg2-psi-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o755])
        defer { try? FileManager.default.removeItem(atPath: directory) }
        for (name, text) in [("memory.current", "104857600\n"), ("memory.max", "max\n"), ("memory.events", "low 0\nhigh 0\nmax 0\noom 0\noom_kill 0\n"),
                             ("memory.pressure", "some avg10=0.00 avg60=0.00 avg300=0.00 total=0\nfull avg10=0.00 avg60=0.00 avg300=0.00 total=0\n")] {
            try text.write(toFile: directory + "/" + name, atomically: false, encoding: .utf8)
            try FileManager.default.setAttributes([.posixPermissions: 0o644], ofItemAtPath: directory + "/" + name)
        }
        let exporter = try Exporter(["--check-interval", "0.2", "--cgroup", directory], wrapper: Unprivileged.setpriv)
        defer { exporter.stop() }
        var state: [String: Any] = [:]
        #expect(waitFor(15) { state = triggerState(exporter); return state["state"] as? String == "unavailable" }, "\(state)")
        #expect((state["reason"] as? String)?.contains("\(directory)/memory.pressure") == true)
        #expect((state["reason"] as? String)?.contains("permission denied") == true)
        #expect(state["checks"] as? String == "on the interval")
        #expect(exporter.child.stderr.contains("memory pressure trigger unavailable; checks stay on the interval"))
        let before = (try exporter.health("/health/metrics/history?hours=1")["count"] as? Int) ?? 0
        usleep(1_000_000)
        let after = (try exporter.health("/health/metrics/history?hours=1")["count"] as? Int) ?? 0
        #expect(after > before)
    }
}
