import Foundation
import TestSupport
import Testing

/// The PSI trigger as the kernel answers it: armed where allowed, a stated fallback to the
/// interval where the kernel refuses the trigger.
@Suite("Memory pressure trigger", .serialized, .offCooperativePool)
struct PressureTriggerTests {
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
        // Firing needs a real memory stall, which this machine kind cannot produce on demand (no
        // swap, a v1 memory controller): see the issue note. The refusal path is tested below.
        print("NOTE defaultTriggerArms: firing is not exercised: this machine cannot be made to stall on memory on demand")
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
