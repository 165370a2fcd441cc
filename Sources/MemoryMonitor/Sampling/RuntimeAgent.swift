#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import Synchronization

/// What the target's runtime agent (clients/python) reported: its garbage collector, threads,
/// tracemalloc and admission gate. Object counts are Python objects, never bytes.
package struct RuntimeReport: Sendable, Equatable {
    package struct Generation: Sendable, Equatable {
        package var collections: UInt64
        package var collected: UInt64
        package var uncollectable: UInt64
    }

    package var interpreter: String
    package var version: String
    package var gcEnabled: Bool
    /// `gc.get_count()`: allocations less deallocations since each generation's last collection.
    package var counts: [Int]
    /// `gc.get_stats()` per generation.
    package var generations: [Generation]
    /// Live objects the collector tracks (`len(gc.get_objects())`, taken at most every N seconds by the agent).
    package var objects: UInt64?
    package var threads: Int
    package var tracemallocTracing: Bool
    package var tracedBytes: UInt64
    /// The agent's admission gate: its limit (nil: unlimited), work inside it and waiting.
    package var gateLimit: Int?
    package var gateActive: Int
    package var gateWaiting: Int
    /// The most work inside the gate at once since the last throttle.
    package var gatePeak: Int = 0
    package var gateThrottled: Bool
    /// Registered cache clearers, non-essential work and prepare-for-restart hooks.
    package var clearers: Int
    package var nonEssential: Int
    package var prepareHooks: Int

    /// Reads the agent's `/report` body; nil when it is not one.
    package static func parse(_ json: JSONValue) -> RuntimeReport? {
        guard case .object(let o) = json, case .object(let gc)? = o["gc"] else { return nil }
        func int(_ v: JSONValue?) -> Int? { v?.boundedCount.map { Int($0) } }
        func text(_ v: JSONValue?) -> String { if case .string(let s)? = v { s } else { "" } }
        func bool(_ v: JSONValue?) -> Bool { if case .bool(let b)? = v { b } else { false } }
        func count(_ v: JSONValue?) -> Int { if case .array(let a)? = v { a.count } else { 0 } }
        var generations: [Generation] = []
        if case .array(let list)? = gc["generations"] {
            for case .object(let g) in list {
                generations.append(
                    Generation(
                        collections: UInt64(int(g["collections"]) ?? 0), collected: UInt64(int(g["collected"]) ?? 0),
                        uncollectable: UInt64(int(g["uncollectable"]) ?? 0)))
            }
        }
        var counts: [Int] = []
        if case .array(let list)? = gc["count"] { counts = list.compactMap { int($0) } }
        var report = RuntimeReport(
            interpreter: text(o["interpreter"]), version: text(o["version"]), gcEnabled: bool(gc["enabled"]), counts: counts,
            generations: generations, objects: int(gc["objects"]).map(UInt64.init), threads: int(o["threads"]) ?? 0, tracemallocTracing: false,
            tracedBytes: 0, gateLimit: nil, gateActive: 0, gateWaiting: 0, gateThrottled: false, clearers: count(o["clearers"]),
            nonEssential: count(o["non_essential"]), prepareHooks: count(o["prepare_restart"]))
        if case .object(let t)? = o["tracemalloc"] {
            report.tracemallocTracing = bool(t["tracing"])
            report.tracedBytes = UInt64(int(t["traced_bytes"]) ?? 0)
        }
        if case .object(let g)? = o["gate"] {
            report.gateLimit = int(g["limit"])
            report.gateActive = int(g["active"]) ?? 0
            report.gateWaiting = int(g["waiting"]) ?? 0
            report.gateThrottled = bool(g["throttled"])
            report.gatePeak = int(g["peak"]) ?? 0
        }
        return report
    }

    /// A group's figures: counts summed, the first member's interpreter.
    package static func sum(_ reports: [RuntimeReport]) -> RuntimeReport? {
        guard var total = reports.first else { return nil }
        for r in reports.dropFirst() {
            total.gcEnabled = total.gcEnabled && r.gcEnabled
            for i in 0..<min(total.counts.count, r.counts.count) { total.counts[i] += r.counts[i] }
            for i in 0..<min(total.generations.count, r.generations.count) {
                total.generations[i].collections += r.generations[i].collections
                total.generations[i].collected += r.generations[i].collected
                total.generations[i].uncollectable += r.generations[i].uncollectable
            }
            total.objects = total.objects.flatMap { a in r.objects.map { a + $0 } }
            total.threads += r.threads
            total.tracemallocTracing = total.tracemallocTracing || r.tracemallocTracing
            total.tracedBytes += r.tracedBytes
            total.gateActive += r.gateActive
            total.gateWaiting += r.gateWaiting
            total.gatePeak += r.gatePeak
            total.gateThrottled = total.gateThrottled || r.gateThrottled
            total.clearers += r.clearers
            total.nonEssential += r.nonEssential
            total.prepareHooks += r.prepareHooks
        }
        return total
    }

    /// `/health/memory`'s `runtime` section.
    package var json: JSONValue {
        [
            "interpreter": .string(interpreter), "version": .string(version), "gc_enabled": .bool(gcEnabled),
            "gc_count": .array(counts.map { .number(Double($0)) }),
            "generations": .array(
                generations.enumerated().map { i, g in
                    [
                        "generation": .number(Double(i)), "collections": .number(Double(g.collections)), "collected": .number(Double(g.collected)),
                        "uncollectable": .number(Double(g.uncollectable)),
                    ]
                }),
            "objects": objects.map { .number(Double($0)) } ?? .null, "threads": .number(Double(threads)),
            "tracemalloc": ["tracing": .bool(tracemallocTracing), "traced_bytes": .number(Double(tracedBytes))],
            "gate": [
                "limit": gateLimit.map { .number(Double($0)) } ?? .null, "active": .number(Double(gateActive)),
                "waiting": .number(Double(gateWaiting)), "peak": .number(Double(gatePeak)), "throttled": .bool(gateThrottled),
            ],
            "clearers": .number(Double(clearers)), "non_essential": .number(Double(nonEssential)),
            "prepare_restart_hooks": .number(Double(prepareHooks)),
        ]
    }
}

/// The target's agents as one check found them.
package struct RuntimeReading: Sendable, Equatable {
    /// Each member that has an agent socket, by pid (as the monitor sees it): where to reach it.
    package var endpoints: [Int32: String] = [:]
    /// What each agent that answered reported.
    package var reports: [Int32: RuntimeReport] = [:]
    /// Why a member's agent is not used: no socket, permission denied, timeout, refused.
    package var problems: [Int32: String] = [:]
    /// Wall time this check spent on the agents (waiting for answers included).
    package var readSeconds: Double = 0

    package init() {}

    /// Agents that answered.
    package var agentsUp: Int { reports.count }
    /// Agents whose socket exists but that did not answer (refused, timed out, malformed).
    package var agentsDown: Int { endpoints.count - reports.count }
    /// The group's figures, summed over the agents that answered.
    package var total: RuntimeReport? { RuntimeReport.sum(reports.keys.sorted().compactMap { reports[$0] }) }
    /// Members whose agent answered: the actions go there.
    package var reachable: [(pid: Int32, socket: String)] { reports.keys.sorted().compactMap { pid in endpoints[pid].map { (pid, $0) } } }
    /// Why no agent answers, for `/health/memory` (nil when one does).
    package var reason: String? {
        guard reports.isEmpty else { return nil }
        let reasons = Set(problems.values).sorted()
        return reasons.isEmpty ? "no agent socket found" : reasons.joined(separator: "; ")
    }
}

/// Why an exchange with an agent failed.
package struct AgentFailure: Error, CustomStringConvertible, Equatable {
    package var description: String
}

/// HTTP/1.1 over a Unix domain socket, blocking with a deadline (poll): what the check thread and
/// an action's task use to talk to an agent. Small on purpose: one request, one JSON answer.
package enum UnixHTTP {
    /// Connects to `path`, within `timeout` seconds.
    package static func connect(_ path: String, timeout: Double) -> Result<Int32, AgentFailure> {
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        let capacity = MemoryLayout.size(ofValue: address.sun_path)
        let bytes = Array(path.utf8)
        guard bytes.count < capacity else { return .failure(AgentFailure(description: "socket path longer than \(capacity - 1) bytes: \(path)")) }
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            raw.copyBytes(from: bytes)
            raw[bytes.count] = 0
        }
        #if canImport(Glibc)
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue) | Int32(SOCK_NONBLOCK.rawValue), 0)
        #else
        let fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0)
        #endif
        guard fd >= 0 else { return .failure(AgentFailure(description: "socket: \(ReadFailure(code: errno))")) }
        let result = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { systemConnect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        if result != 0 {
            let code = errno
            if code == EINPROGRESS || code == EAGAIN {
                // A Unix socket whose backlog is full: wait for room.
                guard wait(fd, for: Int16(POLLOUT), until: deadline(timeout)) else {
                    close(fd)
                    return .failure(AgentFailure(description: "timeout: no connection within \(JSONValue.format(timeout)) s"))
                }
            } else {
                close(fd)
                return .failure(AgentFailure(description: describe(code)))
            }
        }
        return .success(fd)
    }

    #if canImport(Glibc)
    private static let systemConnect = Glibc.connect
    private static let systemSend = Glibc.send
    #else
    private static let systemConnect = Musl.connect
    private static let systemSend = Musl.send
    #endif

    static func describe(_ code: Int32) -> String {
        switch code {
        case ENOENT: "no socket"
        case EACCES, EPERM: "permission denied"
        case ECONNREFUSED: "connection refused (no agent listening)"
        default: "\(ReadFailure(code: code))"
        }
    }

    static func deadline(_ timeout: Double) -> ContinuousClock.Instant { .now + .milliseconds(Int64(max(0, timeout) * 1000)) }

    private static func wait(_ fd: Int32, for events: Int16, until deadline: ContinuousClock.Instant) -> Bool {
        while true {
            let left = deadline - .now
            guard left > .zero else { return false }
            var p = pollfd(fd: fd, events: events, revents: 0)
            let ms = Int32(min(Double(Int32.max), max(1, (left.seconds * 1000).rounded(.up))))
            let n = poll(&p, 1, ms)
            if n > 0 { return true }
            if n < 0 && errno != EINTR { return false }
        }
    }

    /// Sends one request on `fd` and reads the answer: (status, JSON body). The connection stays
    /// open for the next request unless the answer closes it (`keepOpen` false).
    package static func exchange(
        _ fd: Int32, method: String, path: String, body: JSONValue? = nil, timeout: Double
    ) -> Result<(status: Int, body: JSONValue, keepOpen: Bool), AgentFailure> {
        let end = deadline(timeout)
        if let failure = send(fd, method: method, path: path, body: body, until: end, timeout: timeout) { return .failure(failure) }
        return readAnswer(fd, until: end, timeout: timeout)
    }

    /// Sends one request; nil when it went out.
    package static func send(_ fd: Int32, method: String, path: String, body: JSONValue? = nil, until end: ContinuousClock.Instant, timeout: Double)
        -> AgentFailure?
    {
        let payload = body?.serialized ?? ""
        var request = "\(method) \(path) HTTP/1.1\r\nHost: agent\r\nUser-Agent: memory-monitor\r\n"
        if body != nil { request += "Content-Type: application/json\r\n" }
        request += "Content-Length: \(payload.utf8.count)\r\n\r\n" + payload
        let out = Array(request.utf8)
        var sent = 0
        while sent < out.count {
            let n = out.withUnsafeBytes { systemSend(fd, $0.baseAddress! + sent, $0.count - sent, Int32(MSG_NOSIGNAL)) }
            if n > 0 {
                sent += n
            } else if n < 0 && (errno == EAGAIN || errno == EINTR) {
                guard wait(fd, for: Int16(POLLOUT), until: end) else { return timedOut(timeout) }
            } else {
                return AgentFailure(description: "send: \(describe(errno))")
            }
        }
        return nil
    }

    /// Reads the answer to a request sent on `fd`: (status, JSON body, whether the connection stays open).
    package static func readAnswer(_ fd: Int32, until end: ContinuousClock.Instant, timeout: Double) -> Result<
        (status: Int, body: JSONValue, keepOpen: Bool), AgentFailure
    > {
        // The answer: a head, then Content-Length bytes.
        var buffer: [UInt8] = []
        buffer.reserveCapacity(4096)
        var headEnd: Int?
        var expected = -1
        var status = 0
        var keepOpen = true
        var chunk = [UInt8](repeating: 0, count: 16384)
        while true {
            if headEnd == nil, let end = find(buffer, [13, 10, 13, 10]) {
                headEnd = end + 4
                let head = String(decoding: buffer[..<end], as: UTF8.self)
                let lines = head.split(separator: "\r\n")
                let parts = lines.first?.split(separator: " ") ?? []
                guard parts.count >= 2, parts[0].hasPrefix("HTTP/1."), let code = Int(parts[1]) else {
                    return .failure(AgentFailure(description: "not an HTTP answer"))
                }
                status = code
                for line in lines.dropFirst() {
                    let pair = line.split(separator: ":", maxSplits: 1)
                    guard pair.count == 2 else { continue }
                    let name = pair[0].lowercased()
                    let value = pair[1].trimmingPrefix(" ")
                    if name == "content-length" { expected = Int(value) ?? -1 }
                    if name == "connection" && value.lowercased() == "close" { keepOpen = false }
                }
                guard expected >= 0, expected <= 4 << 20 else { return .failure(AgentFailure(description: "no usable Content-Length")) }
            }
            if let start = headEnd, buffer.count - start >= expected {
                let text = String(decoding: buffer[start..<(start + expected)], as: UTF8.self)
                guard let json = try? JSONParser.parse(text) else { return .failure(AgentFailure(description: "the answer is not JSON")) }
                return .success((status, json, keepOpen))
            }
            let n = chunk.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if n > 0 {
                buffer.append(contentsOf: chunk[..<n])
                if buffer.count > 4 << 20 { return .failure(AgentFailure(description: "answer too large")) }
            } else if n == 0 {
                return .failure(AgentFailure(description: "the agent closed the connection"))
            } else if errno == EAGAIN || errno == EINTR {
                guard wait(fd, for: Int16(POLLIN), until: end) else { return .failure(timedOut(timeout)) }
            } else {
                return .failure(AgentFailure(description: "recv: \(describe(errno))"))
            }
        }
    }

    static func timedOut(_ timeout: Double) -> AgentFailure { AgentFailure(description: "timeout: no answer within \(JSONValue.format(timeout)) s") }

    private static func find(_ haystack: [UInt8], _ needle: [UInt8]) -> Int? {
        guard haystack.count >= needle.count else { return nil }
        var i = 0
        while i <= haystack.count - needle.count {
            if haystack[i] == needle[0] && haystack[i + 1] == needle[1] && haystack[i + 2] == needle[2] && haystack[i + 3] == needle[3] { return i }
            i += 1
        }
        return nil
    }

    /// One request on a connection of its own (actions): (status, body).
    package static func request(_ socket: String, method: String, path: String, body: JSONValue? = nil, timeout: Double) -> Result<
        (status: Int, body: JSONValue), AgentFailure
    > {
        let started = ContinuousClock.now
        switch connect(socket, timeout: timeout) {
        case .failure(let failure): return .failure(failure)
        case .success(let fd):
            defer { close(fd) }
            let left = max(0.001, timeout - (ContinuousClock.now - started).seconds)
            return exchange(fd, method: method, path: path, body: body, timeout: left).map { ($0.status, $0.body) }
        }
    }
}

/// Finds and reads the target's agents, once per check, on the check thread.
///
/// Discovery needs no configuration: the agent's socket is one of the Unix sockets the target
/// process holds open. The monitor reads the target's descriptors (`/proc/PID/fd`, socket inodes)
/// and its network namespace's socket table (`/proc/PID/net/unix`, inode and bound path), and
/// keeps the listening socket whose name starts with `memory-monitor-agent`. It connects through
/// `/proc/PID/root` (the target's own file system view: a container's /tmp), then through its own
/// mount of a shared directory (`monitoring.agent.socket_dir`, a Kubernetes emptyDir), then the
/// path as bound. `monitoring.agent.socket` names the socket outright.
///
/// A connection per agent is kept open between checks (keep-alive); a hung agent costs a check at
/// most `monitoring.agent.timeout_seconds`, after which its connection is dropped, and all the
/// agents of a group together at most twice that.
package final class RuntimeAgentProbe: Sendable {
    package struct Settings: Sendable, Equatable {
        package var enabled = true
        package var timeoutSeconds = 0.25
        package var socket: String?
        package var socketDirectory: String?
        /// While a member has no agent, discovery is retried this often (it reads the target's fd table).
        package var rediscoverSeconds = 5.0
        /// `monitoring.enable_tracemalloc`: each agent found is asked to trace allocations from then on.
        package var traceFromStart = false
        /// The traceback depth it traces with (`monitoring.leak_detection.profile_depth`).
        package var traceDepth = 8
    }

    private struct Known {
        var startTicks: UInt64?
        var socket: String?
        var fd: Int32?
        /// A report was asked for before the check sampled /proc (`prefetch`): its answer is read next.
        var asked = false
        /// The agent was asked once to trace from start (`traceFromStart`).
        var traceAsked = false
        var lastDiscovery: ContinuousClock.Instant
        var problem: String?
    }

    package let settings: Settings
    private let known = Mutex<[Int32: Known]>([:])

    package init(settings: Settings) { self.settings = settings }

    deinit {
        known.withLock { for k in $0.values { if let fd = k.fd { close(fd) } } }
    }

    /// Asks the agents known from the last check for their report, before the check reads /proc:
    /// the agent answers while the monitor samples, so the check does not wait out a round trip
    /// (two context switches and a wake-up of the other side) in series.
    package func prefetch() {
        guard settings.enabled else { return }
        known.withLock { known in
            let end = UnixHTTP.deadline(settings.timeoutSeconds)
            for (pid, var k) in known {
                guard let fd = k.fd, !k.asked else { continue }
                if let failure = UnixHTTP.send(fd, method: "GET", path: "/report", until: end, timeout: settings.timeoutSeconds) {
                    close(fd)
                    k.fd = nil
                    k.problem = failure.description
                } else {
                    k.asked = true
                }
                known[pid] = k
            }
        }
    }

    /// Reads the agents of `members`; nil when the probe is off.
    package func read(_ members: [Sample.TargetProcess.Member]) -> RuntimeReading? {
        guard settings.enabled else { return nil }
        var reading = RuntimeReading()
        let started = ContinuousClock.now
        known.withLock { known in
            let alive = Set(members.map(\.pid))
            for (pid, k) in known where !alive.contains(pid) {
                if let fd = k.fd { close(fd) }
                known.removeValue(forKey: pid)
            }
            // A group of hung agents must not add a timeout per member: past twice the timeout in
            // all, the rest wait for the next check.
            let budgetEnd = ContinuousClock.now + .milliseconds(Int64(settings.timeoutSeconds * 2000))
            for member in members {
                guard ContinuousClock.now < budgetEnd else {
                    reading.problems[member.pid] = "not read this check: the agents' time budget (2 × monitoring.agent.timeout_seconds) was spent"
                    continue
                }
                var k = known[member.pid] ?? Known(startTicks: member.startTicks, lastDiscovery: .now - .seconds(3600))
                if k.startTicks != member.startTicks {  // a reused pid is another process
                    if let fd = k.fd { close(fd) }  // an answer asked for is dropped with it
                    k = Known(startTicks: member.startTicks, lastDiscovery: .now - .seconds(3600))
                }
                probe(member.pid, &k, into: &reading)
                known[member.pid] = k
            }
        }
        reading.readSeconds = (ContinuousClock.now - started).seconds
        return reading
    }

    private func probe(_ pid: Int32, _ k: inout Known, into reading: inout RuntimeReading) {
        if k.socket == nil {
            guard ContinuousClock.now - k.lastDiscovery >= .seconds(settings.rediscoverSeconds) else {
                if let problem = k.problem { reading.problems[pid] = problem }
                return
            }
            k.lastDiscovery = .now
            switch discover(pid) {
            case .success(let path): k.socket = path
            case .failure(let failure):
                k.problem = failure.description
                reading.problems[pid] = failure.description
                return
            }
        }
        guard let socket = k.socket else { return }
        reading.endpoints[pid] = socket
        if k.fd == nil {
            switch UnixHTTP.connect(socket, timeout: settings.timeoutSeconds) {
            case .success(let fd): k.fd = fd
            case .failure(let failure):
                // Gone or moved: find it again next time.
                k.socket = nil
                k.problem = failure.description
                reading.problems[pid] = failure.description
                return
            }
        }
        guard let fd = k.fd else { return }
        let answer: Result<(status: Int, body: JSONValue, keepOpen: Bool), AgentFailure>
        if k.asked {
            k.asked = false
            answer = UnixHTTP.readAnswer(fd, until: UnixHTTP.deadline(settings.timeoutSeconds), timeout: settings.timeoutSeconds)
        } else {
            answer = UnixHTTP.exchange(fd, method: "GET", path: "/report", timeout: settings.timeoutSeconds)
        }
        switch answer {
        case .success(let answer):
            if !answer.keepOpen {
                close(fd)
                k.fd = nil
            }
            guard answer.status == 200 else {
                let message: String
                if case .object(let o) = answer.body, case .string(let m)? = o["error"] { message = m } else { message = "status \(answer.status)" }
                k.problem = "agent refused: \(message)"
                reading.problems[pid] = k.problem
                return
            }
            guard let report = RuntimeReport.parse(answer.body) else {
                k.problem = "the agent's report is not one this monitor reads"
                reading.problems[pid] = k.problem
                return
            }
            k.problem = nil
            reading.reports[pid] = report
            if settings.traceFromStart && !report.tracemallocTracing && !k.traceAsked, let fd = k.fd {
                // Once per agent: from now on a profile finds tracing on and leaves it on.
                k.traceAsked = true
                let body: JSONValue = ["enable": true, "depth": .number(Double(settings.traceDepth))]
                if case .failure(let failure) = UnixHTTP.exchange(fd, method: "POST", path: "/actions/tracemalloc?wait=1", body: body, timeout: settings.timeoutSeconds) {
                    close(fd)
                    k.fd = nil
                    reading.problems[pid] = "tracemalloc not started: \(failure)"
                }
            }
        case .failure(let failure):
            close(fd)
            k.fd = nil
            k.problem = failure.description
            reading.problems[pid] = failure.description
        }
    }

    /// Where `pid`'s agent listens, as the monitor can reach it.
    package func discover(_ pid: Int32) -> Result<String, AgentFailure> {
        if let socket = settings.socket { return .success(socket) }
        // The socket inodes the process holds.
        let fdDirectory = "/proc/\(pid)/fd"
        guard let dir = opendir(fdDirectory) else {
            return .failure(AgentFailure(description: "cannot list \(fdDirectory): \(UnixHTTP.describe(errno))"))
        }
        var inodes = Set<Substring>()
        var names: [String] = []
        while let entry = readdir(dir) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
            if name.first?.isNumber == true { names.append(name) }
        }
        closedir(dir)
        var link = [CChar](repeating: 0, count: 64)
        for name in names {
            let n = readlink("\(fdDirectory)/\(name)", &link, link.count - 1)
            guard n > 8 else { continue }
            let text = String(decoding: link[..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self)
            if text.hasPrefix("socket:[") { inodes.insert(Substring(text.dropFirst(8).dropLast())) }
        }
        guard !inodes.isEmpty else { return .failure(AgentFailure(description: "no agent socket (the process holds no Unix socket)")) }
        guard case .success(let bytes) = FileSystem.readBytes("/proc/\(pid)/net/unix", limit: 16 << 20) else {
            return .failure(AgentFailure(description: "cannot read /proc/\(pid)/net/unix"))
        }
        // "Num RefCount Protocol Flags Type St Inode Path"; a listening socket has flag 00010000.
        var bound: String?
        for line in String(decoding: bytes, as: UTF8.self).split(separator: "\n").dropFirst() {
            let fields = line.split(separator: " ", omittingEmptySubsequences: true)
            guard fields.count >= 8, inodes.contains(fields[6]), fields[3] == "00010000" else { continue }
            let path = String(fields[7])
            if path.split(separator: "/").last?.hasPrefix("memory-monitor-agent") == true {
                bound = path
                break
            }
        }
        guard let bound, bound.hasPrefix("/") else { return .failure(AgentFailure(description: "no agent socket")) }
        var candidates = ["/proc/\(pid)/root\(bound)"]
        if let directory = settings.socketDirectory, let base = bound.split(separator: "/").last { candidates.append("\(directory)/\(base)") }
        candidates.append(bound)
        for candidate in candidates where access(candidate, F_OK) == 0 {
            return .success(candidate)
        }
        return .failure(
            AgentFailure(
                description:
                    "the agent listens on \(bound) but the monitor cannot reach it (\(candidates[0]): \(UnixHTTP.describe(errno)); set monitoring.agent.socket_dir to a shared directory)"
            ))
    }
}
