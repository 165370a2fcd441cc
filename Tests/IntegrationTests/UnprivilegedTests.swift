import Foundation
import MemoryMonitor
import TestSupport
import Testing

/// The binary as it ships: an unprivileged user (the Dockerfile's uid), a low descriptor limit,
/// targets it may not fully read, and pids the kernel reuses.
@Suite("Unprivileged, low fd limit, pid reuse", .serialized, .offCooperativePool)
struct UnprivilegedTests {
    @Test func dockerfileRunsAsTheTestedUser() throws {
        let dockerfile = try String(contentsOfFile: TestEnvironment.packageRoot + "/Dockerfile", encoding: .utf8)
        #expect(dockerfile.contains("USER \(Unprivileged.uid):\(Unprivileged.uid)"))
        #expect(dockerfile.contains("--uid \(Unprivileged.uid)"))
    }

    /// The reproduction of the non-root bug: every connection was reset (SO_DEBUG needs CAP_NET_ADMIN).
    @Test func servesBothPortsAndTheHealthAPIUnprivileged() throws {
        let exporter = try Exporter(["--check-interval", "0.5"], wrapper: Unprivileged.setpriv)
        defer { exporter.stop() }
        let status = try String(contentsOfFile: "/proc/\(exporter.child.pid)/status", encoding: .utf8)
        #expect(status.contains("Uid:\t\(Unprivileged.uid)\t"))
        let metrics = try exporter.metrics(gzip: true)
        #expect(metrics.status == 200)
        #expect(metrics.headers["content-encoding"] == "gzip")
        for path in ["/health", "/health/memory", "/health/alerts?hours=1", "/health/metrics/history?hours=1"] {
            #expect(try RawHTTP.request(port: exporter.healthPort, path: path).status == 200, "\(path)")
        }
        #expect(try RawHTTP.request(port: exporter.healthPort, method: "POST", path: "/health/actions/gc").status == 200)
        let memory = try exporter.health("/health/memory")
        #expect(memory["rss_mb"] is Double)
        #expect(memory["pss_mb"] is Double)  // its own smaps_rollup is readable
        #expect(exporter.stop() == 0)
    }

    /// A root-owned target seen by an unprivileged exporter: RSS is known, Pss is null with the
    /// reason, never zero. Its descriptor count is what the kernel tells any user through
    /// `stat` of /proc/PID/fd (Linux 6.2+), and equals the root-only listing; on older kernels
    /// only the listing counts them, and the count is null with the reason.
    @Test func targetOwnedByAnotherUserSaysWhatItCannotRead() throws {
        let sleeper = try ChildProcess("/bin/sleep", ["120"])
        defer { sleeper.stop() }
        let exporter = try Exporter(["--pid", "\(sleeper.pid)", "--check-interval", "0.5"], wrapper: Unprivileged.setpriv)
        defer { exporter.stop() }
        var memory: [String: Any] = [:]
        #expect(waitFor { memory = (try? exporter.health("/health/memory")) ?? [:]; return memory["target_up"] as? Bool == true })
        #expect(memory["pid"] as? Int == Int(sleeper.pid))
        #expect(memory["rss_mb"] is Double)
        #expect(memory["pss_mb"] is NSNull)
        let unavailable = memory["unavailable"] as? [String: String] ?? [:]
        #expect(unavailable["pss_mb"]?.contains("permission denied") == true)
        #expect(unavailable["pss_mb"]?.contains("CAP_SYS_PTRACE") == true)
        if ProcFile.statReportsDescriptors {
            // This test runs as root: its listing is the truth to compare with.
            #expect(memory["open_fds"] as? Int == (try ProcFile.countEntries("/proc/\(sleeper.pid)/fd").get()))
            #expect(unavailable["open_fds"] == nil)
        } else {
            #expect(memory["open_fds"] is NSNull)
            #expect(unavailable["open_fds"]?.contains("permission denied") == true)
        }
        let text = try exporter.metrics().bodyText
        #expect(!text.contains("memory_process_proportional_bytes "))
        #expect(text.contains("memory_process_resident_bytes "))
    }

    /// Under `prlimit --nofile=64:64`, 240 idle connections: connections past the cap are refused
    /// and counted, checks keep their descriptors, no sample holds invented zeros, the process
    /// survives, and it serves again once the clients go.
    @Test func lowDescriptorLimitWithManyIdleClients() throws {
        let exporter = try Exporter(
            ["--check-interval", "0.2"], wrapper: ["/usr/bin/prlimit", "--nofile=64:64"] + Unprivileged.setpriv)
        defer { exporter.stop() }
        var sockets: [Int32] = []
        for _ in 0..<240 {
            let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
            var address = sockaddr_in()
            address.sin_family = sa_family_t(AF_INET)
            address.sin_addr.s_addr = inet_addr("127.0.0.1")
            address.sin_port = in_port_t(UInt16(exporter.healthPort).bigEndian)
            let connected = withUnsafePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
            }
            if connected == 0 { sockets.append(fd) } else { close(fd) }
        }
        usleep(3_000_000)  // a dozen checks while the clients hold their connections
        for fd in sockets { close(fd) }
        #expect(exporter.child.process.isRunning, "the exporter died: \(exporter.child.stderr.suffix(2000))")
        var history: [[String: Any]] = []
        #expect(waitFor(10) {
            history = ((try? exporter.health("/health/metrics/history?hours=1"))?["samples"] as? [[String: Any]]) ?? []
            return history.count >= 10
        })
        for entry in history {
            for key in ["percent", "available_mb", "rss_mb"] {
                // Known (a positive number) or unknown (null); never an invented zero.
                if let value = entry[key] as? Double { #expect(value > 0, "\(key) was 0 in \(entry)") }
            }
        }
        let text = try exporter.metrics().bodyText
        let refused = text.split(separator: "\n").first { $0.hasPrefix("memory_http_rejected_total{reason=\"connection_limit\"}") }
        #expect(refused.flatMap { Double($0.split(separator: " ").last ?? "") }.map { $0 > 0 } == true)
        #expect(try exporter.health("/health")["monitoring_active"] as? Bool == true)
        #expect(exporter.child.stderr.contains("file descriptor limit hard=64 soft=64"))
        #expect(exporter.stop() == 0)
    }

    /// Starts `/bin/sleep` with exactly `pid`, through /proc/sys/kernel/ns_last_pid (root only);
    /// nil when another process took the pid first in every attempt.
    func spawn(withPid pid: Int32) throws -> ChildProcess? {
        for _ in 0..<50 {
            try "\(pid - 1)".write(toFile: "/proc/sys/kernel/ns_last_pid", atomically: false, encoding: .utf8)
            let child = try ChildProcess("/bin/sleep", ["120"])
            if child.pid == pid { return child }
            child.stop()
        }
        return nil
    }

    /// A reused pid is another process: `--pid` reports its target gone; `--pidfile` follows the
    /// new process as a new target and says so.
    @Test(arguments: ["pid", "pidfile"])
    func reusedPidIsANewProcess(_ mode: String) throws {
        guard FileManager.default.isWritableFile(atPath: "/proc/sys/kernel/ns_last_pid") else {
            Issue.record("cannot force pid reuse: /proc/sys/kernel/ns_last_pid is not writable (not root?)")
            return
        }
        let first = try ChildProcess("/bin/sleep", ["120"])
        let pid = first.pid
        let pidfile = NSTemporaryDirectory() + "mm-reuse-\(UUID().uuidString).pid"
        try "\(pid)\n".write(toFile: pidfile, atomically: true, encoding: .utf8)
        let exporter = try Exporter(
            (mode == "pid" ? ["--pid", "\(pid)"] : ["--pidfile", pidfile]) + ["--check-interval", "0.2"])
        defer { exporter.stop() }
        var memory: [String: Any] = [:]
        #expect(waitFor { memory = (try? exporter.health("/health/memory")) ?? [:]; return memory["target_up"] as? Bool == true })
        let firstStart = memory["start_ticks"] as? Int
        first.stop()
        usleep(300_000)
        guard let second = try spawn(withPid: pid) else {
            Issue.record("pid \(pid) was not reused within 50 attempts")
            return
        }
        defer { second.stop() }
        usleep(1_000_000)
        memory = try exporter.health("/health/memory")
        if mode == "pid" {
            #expect(memory["target_up"] as? Bool == false)
            #expect(memory["target_state"] as? String == "gone")
            #expect((memory["unavailable"] as? [String: String])?["target"]?.contains("now belongs to another process") == true)
            #expect((try exporter.metrics().bodyText).contains("memory_target_up 0"))
        } else {
            #expect(memory["target_up"] as? Bool == true)
            #expect(memory["pid"] as? Int == Int(pid))
            #expect(memory["start_ticks"] as? Int != firstStart)
            #expect(memory["target_changes"] as? Int == 1)
            #expect(exporter.child.stderr.contains("monitored process changed"))
        }
    }
}
