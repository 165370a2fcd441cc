#if canImport(Glibc)
import Glibc
#endif
import Logging
import NIOCore
import NIOEmbedded
import MemoryMonitor
import TestSupport
import Testing
@testable import MemoryMonitorHTTP

/// The real SwiftNIO server on an ephemeral 127.0.0.1 port, driven over plain sockets.
@Suite("HTTP server", .serialized, .offCooperativePool)
struct ServerTests {
    struct Running {
        let monitor: MemoryMonitor
        let cache: ExpositionCache
        let server: HTTPServer
        var port: Int { server.boundPorts[0] }
    }

    func withServer(maxAge: Duration = .seconds(60), allowedHosts: [String] = [], _ body: (Running) throws -> Void) async throws {
        var config = MonitorConfiguration()
        config.monitoring.checkInterval = 60
        config.server.allowedHosts = allowedHosts
        let monitor = MemoryMonitor(configuration: config)
        monitor.check()
        let cache = ExpositionCache(monitor: monitor, maxAge: maxAge)
        let server = try await HTTPServer.bind(
            host: "127.0.0.1", listeners: [.init(role: "test", port: 0, routes: [.health, .metrics])], monitor: monitor, cache: cache,
            logger: Logger(label: "test"))
        do {
            try body(Running(monitor: monitor, cache: cache, server: server))
        } catch {
            await server.close()
            throw error
        }
        await server.close()
    }

    @Test func metricsPlainOpenMetricsAndGzipAreTheSameSample() async throws {
        try await withServer { s in
            let plain = try RawHTTP.request(port: s.port, path: "/metrics")
            #expect(plain.status == 200)
            #expect(plain.headers["content-type"] == "text/plain; version=0.0.4; charset=utf-8")
            #expect(plain.headers["vary"] == "Accept, Accept-Encoding")
            #expect(plain.headers["content-encoding"] == nil)
            #expect(plain.bodyText.contains("memory_usage_bytes{component=\"rss_mb\"}"))

            let gz = try RawHTTP.request(port: s.port, path: "/metrics", headers: [("Accept-Encoding", "gzip")])
            #expect(gz.headers["content-encoding"] == "gzip")
            #expect(Gzip.decompress(gz.body) == plain.body)
            #expect(gz.body.count * 3 < plain.body.count)

            let om = try RawHTTP.request(
                port: s.port, path: "/metrics", headers: [("Accept", "application/openmetrics-text;version=1.0.0,text/plain;q=0.5")])
            #expect(om.headers["content-type"] == "application/openmetrics-text; version=1.0.0; charset=utf-8")
            #expect(om.bodyText.hasSuffix("# EOF\n"))
            let omGz = try RawHTTP.request(
                port: s.port, path: "/metrics", headers: [("Accept", "application/openmetrics-text"), ("Accept-Encoding", "gzip")])
            #expect(Gzip.decompress(omGz.body) == om.body)

            // One sample: two renders and two compressions, however many scrapes.
            for _ in 0..<5 { _ = try RawHTTP.request(port: s.port, path: "/metrics", headers: [("Accept-Encoding", "gzip")]) }
            #expect(s.cache.builds == 4)
        }
    }

    /// Our names are legacy-valid: text 1.0.0 with any escaping is byte for byte the 0.0.4 body,
    /// and the answer names the version and the escaping.
    @Test func textOneIsTheSameBytesWithItsOwnContentType() async throws {
        try await withServer { s in
            let old = try RawHTTP.request(port: s.port, path: "/metrics", headers: [("Accept", "text/plain;version=0.0.4")])
            for escaping in ["allow-utf-8", "underscores", "dots", "values"] {
                let new = try RawHTTP.request(port: s.port, path: "/metrics", headers: [("Accept", "text/plain;version=1.0.0;escaping=\(escaping)")])
                #expect(new.headers["content-type"] == "text/plain; version=1.0.0; charset=utf-8; escaping=\(escaping)")
                #expect(new.body == old.body)
            }
        }
    }

    @Test func staleCacheTakesAFreshSample() async throws {
        try await withServer(maxAge: .zero) { s in
            let before = try #require(s.monitor.snapshot?.generation)
            _ = try RawHTTP.request(port: s.port, path: "/metrics")
            _ = try RawHTTP.request(port: s.port, path: "/metrics")
            // Each stale scrape ran a full check (evaluation and history too), not a bare sample.
            #expect(s.monitor.snapshot?.generation == before + 2)
            #expect(s.monitor.history(lastSeconds: 3600).count == 3)
            #expect(s.cache.builds == 2)
        }
    }

    @Test func headHasHeadersButNoBody() async throws {
        try await withServer { s in
            let bytes = try RawHTTP.exchange(port: s.port, request: Array("HEAD /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".utf8))
            let results = RawHTTP.parse(bytes, headRequests: 1)
            #expect(results.count == 1)
            #expect(results.first?.status == 200)
            #expect(Int(results.first?.headers["content-length"] ?? "0")! > 1000)
            #expect(results.first?.body.isEmpty == true)
        }
    }

    @Test func healthEndpoints() async throws {
        try await withServer { s in
            let health = try RawHTTP.request(port: s.port, path: "/health")
            #expect(health.status == 200)
            #expect(health.headers["content-type"] == "application/json")
            let doc = try JSONParser.parse(health.bodyText)
            guard case .object(let o) = doc else { Issue.record("not an object"); return }
            for key in ["status", "timestamp", "uptime_seconds", "monitoring_active", "memory_usage_mb", "memory_percentage", "active_alerts"] {
                #expect(o[key] != nil, "missing \(key)")
            }
            let memory = try RawHTTP.request(port: s.port, path: "/health/memory")
            #expect(memory.status == 200)
            #expect(memory.bodyText.contains("\"rss_mb\":"))
            s.monitor.check()
            s.monitor.check()
            let stepped = try RawHTTP.request(port: s.port, path: "/health/metrics/history?hours=1&step=3600")
            #expect(stepped.status == 200)
            #expect(stepped.bodyText.contains("\"step_seconds\":3600"))
            // Three checks, in one bucket (two if an hour boundary fell between them).
            guard case .object(let doc) = try JSONParser.parse(stepped.bodyText), case .array(let points) = doc["samples"] else {
                Issue.record("no samples"); return
            }
            let checks = points.compactMap { point -> Double? in
                if case .object(let o) = point, case .number(let n) = o["checks"] { return n }
                return nil
            }
            #expect(checks.reduce(0, +) == 3)
            #expect(stepped.bodyText.contains("\"rss_mb\":{\"min\":"))
            let history = try RawHTTP.request(port: s.port, path: "/health/metrics/history?hours=1")
            #expect(history.status == 200)
            #expect(history.bodyText.contains("\"count\":3"))
            let gc = try RawHTTP.request(port: s.port, method: "POST", path: "/health/actions/gc")
            #expect(gc.status == 200)
            #expect(gc.bodyText.contains("\"success\":true"))
            #expect(gc.bodyText.contains("\"scope\":\"process\""))
            #expect(gc.bodyText.contains("\"units\":\"bytes\""))
            #expect(s.monitor.check().cleanupCycles == 1)
            let actions = try RawHTTP.request(port: s.port, path: "/health/actions?hours=1")
            #expect(actions.status == 200)
            #expect(actions.bodyText.contains("\"action\":\"force_gc\",\"result\":\"ok\""))
        }
    }

    /// Found by probing: a cross-origin POST (a page elsewhere, a browser on this machine) is
    /// refused; an HTTP/1.1 request without Host is a 400; a long unknown path is not echoed whole.
    @Test func browserBorneAndMalformedRequests() async throws {
        try await withServer { s in
            let forged = try RawHTTP.request(
                port: s.port, method: "POST", path: "/health/actions/gc", headers: [("Origin", "http://evil.example"), ("Content-Type", "text/plain")],
                body: "x")
            #expect(forged.status == 403)
            #expect(forged.bodyText.contains("cross-origin"))
            let sameOrigin = try RawHTTP.request(port: s.port, method: "POST", path: "/health/actions/gc", headers: [("Origin", "http://127.0.0.1:\(s.port)")])
            #expect(sameOrigin.status == 200)
            let noHost = RawHTTP.parse(try RawHTTP.exchange(port: s.port, request: Array("GET /health HTTP/1.1\r\nConnection: close\r\n\r\n".utf8)))
            #expect(noHost.first?.status == 400)
            let http10 = RawHTTP.parse(try RawHTTP.exchange(port: s.port, request: Array("GET /health HTTP/1.0\r\n\r\n".utf8)))
            #expect(http10.first?.status == 200)
            let long = try RawHTTP.request(port: s.port, path: "/" + String(repeating: "a", count: 5000))
            #expect(long.status == 404)
            #expect(long.body.count < 400)
            #expect(try RawHTTP.request(port: s.port, path: "/health").status == 200)
        }
    }

    /// DNS rebinding: a page whose name now resolves to 127.0.0.1 sends its own Host and a
    /// matching Origin. Refused (403, counted) unless the Host is loopback, this host's own name
    /// or address, or listed in server.allowed_hosts.
    @Test func aRebindingHostIsRefusedAndCounted() async throws {
        var buffer = [CChar](repeating: 0, count: 256)
        gethostname(&buffer, buffer.count)
        let hostname = String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        let ownAddress = HostAllowList.interfaceAddresses().first { !$0.hasPrefix("127.") && $0 != "::1" && !$0.contains(":") }
        try await withServer(allowedHosts: ["monitor.example.com"]) { s in
            func post(host: String, origin: String? = nil) throws -> Int? {
                var text = "POST /health/actions/gc HTTP/1.1\r\nHost: \(host)\r\nConnection: close\r\nContent-Length: 0\r\n"
                if let origin { text += "Origin: \(origin)\r\n" }
                return RawHTTP.parse(try RawHTTP.exchange(port: s.port, request: Array((text + "\r\n").utf8))).first?.status
            }
            let p = s.port
            #expect(try post(host: "evil.example:\(p)", origin: "http://evil.example:\(p)") == 403)
            #expect(try post(host: "evil.example") == 403)
            #expect(try post(host: "127.0.0.1.evil.example:\(p)") == 403)
            #expect(try post(host: "localhost:\(p)", origin: "http://localhost:\(p)") == 200)
            #expect(try post(host: "app.localhost:\(p)") == 200)
            #expect(try post(host: "127.0.0.1") == 200)
            #expect(try post(host: "[::1]:\(p)") == 200)
            #expect(try post(host: "monitor.example.com:\(p)") == 200)
            #expect(try post(host: "\(hostname):\(p)") == 200)
            if let ownAddress { #expect(try post(host: "\(ownAddress):\(p)") == 200) }
            let metrics = try RawHTTP.request(port: p, path: "/metrics").bodyText
            #expect(metrics.contains("memory_http_rejected_total{reason=\"host_not_allowed\"} 3"))
            // Reads are not affected.
            let read = RawHTTP.parse(try RawHTTP.exchange(port: p, request: Array("GET /health HTTP/1.1\r\nHost: evil.example\r\nConnection: close\r\n\r\n".utf8)))
            #expect(read.first?.status == 200)
        }
        #expect(HostAllowList.hostPart("[::1]:80") == "::1")
        #expect(HostAllowList.hostPart("LocalHost.:8080") == "localhost")
        #expect(HostAllowList.hostPart("a:b:c") == nil)
        #expect(HostAllowList.hostPart("a:") == nil)
        #expect(HostAllowList.hostPart("[::1]x") == nil)
    }

    /// A history response holds at most `maximumPoints` (5000) points, the newest, and says so.
    @Test func historyResponsesAreBounded() async throws {
        var config = MonitorConfiguration()
        config.monitoring.historySize = 100
        let monitor = MemoryMonitor(configuration: config)
        for _ in 0..<60 { monitor.check() }
        #expect(HealthReport.maximumPoints == 5000)
        let body = HealthReport.history(monitor, hours: 1, maximumPoints: 50)
        guard case .object(let o) = body, case .array(let samples) = o["samples"] else {
            Issue.record("no samples")
            return
        }
        #expect(samples.count == 50)
        #expect(o["truncated"] == .bool(true))
        #expect(o["count"] == .number(50))
        guard case .object(let full) = HealthReport.history(monitor, hours: 1) else { return }
        #expect(full["truncated"] == nil && full["count"] == .number(60))
    }

    @Test(arguments: [
        ("GET", "/nope", 404, nil as String?), ("DELETE", "/metrics", 405, "GET, HEAD"), ("GET", "/health/actions/gc", 405, "POST"),
        ("POST", "/health", 405, "GET, HEAD"), ("GET", "/health/metrics/history?hours=-3", 400, nil),
        ("GET", "/health/metrics/history?hours=", 400, nil), ("GET", "/health/metrics/history?hours=1e9", 400, nil),
        ("GET", "/health/metrics/history?hours=1&step=0", 400, nil), ("GET", "/health/metrics/history?hours=1&step=7200", 400, nil),
    ])
    func errorsAreJSON(_ method: String, _ path: String, _ status: Int, _ allow: String?) async throws {
        try await withServer { s in
            let r = try RawHTTP.request(port: s.port, method: method, path: path)
            #expect(r.status == status)
            #expect(r.headers["content-type"] == "application/json")
            #expect(r.headers["allow"] == allow)
            #expect(r.bodyText.contains("\"error\":"))
            #expect(r.bodyText.contains("\"status\":\(status)"))
        }
    }

    @Test(arguments: [
        "GARBAGE\r\n\r\n", "GET /metrics HTTP/9.9\r\n\r\n", "GET /metrics HTTP/1.1\r\nBad Header\r\n\r\n",
        "GET /metrics HTTP/1.1\r\nContent-Length: abc\r\n\r\n", "\u{0}\u{1}\u{2}\r\n\r\n",
    ])
    func malformedRequestGets400AndServerKeepsServing(_ raw: String) async throws {
        try await withServer { s in
            let bytes = try RawHTTP.exchange(port: s.port, request: Array(raw.utf8))
            let result = RawHTTP.parse(bytes).first
            #expect(result?.status == 400)
            #expect(result?.bodyText.contains("\"error\":") == true)
            #expect(try RawHTTP.request(port: s.port, path: "/health").status == 200)
        }
    }

    @Test func rootListsTheEndpoints() async throws {
        try await withServer { s in
            let r = try RawHTTP.request(port: s.port, path: "/")
            #expect(r.status == 200)
            for endpoint in ["/metrics", "/health", "/health/memory", "/health/alerts?hours=24", "/health/actions?hours=24", "POST /health/actions/gc"] {
                #expect(r.bodyText.contains("\"\(endpoint)\""), "missing \(endpoint)")
            }
            // A browser gets the HTML page exporters serve, linking /metrics and the health API.
            let page = try RawHTTP.request(port: s.port, path: "/", headers: [("Accept", "text/html,application/xhtml+xml")])
            #expect(page.headers["content-type"] == "text/html; charset=utf-8")
            #expect(page.bodyText.contains("<a href=\"/metrics\">/metrics</a>") && page.bodyText.contains("<a href=\"/health\">"))
        }
    }

    /// On a metrics-only listener, / is the HTML page whatever the client accepts.
    @Test func theMetricsPortServesALandingPage() {
        let page = Router.landingPage(routes: [.metrics])
        #expect(page.headers.first(name: "content-type") == "text/html; charset=utf-8")
        let text = String(buffer: page.body)
        #expect(text.contains("<title>memory-monitor</title>") && text.contains("/metrics") && text.contains("on the health port"))
        #expect(text.contains(MonitorMetrics.versionDescription))
    }

    @Test func oversizedBodyGets413() async throws {
        try await withServer { s in
            let big = String(repeating: "x", count: 70_000)
            let r = try RawHTTP.request(port: s.port, method: "POST", path: "/health/actions/gc", body: big)
            #expect(r.status == 413)
            #expect(try RawHTTP.request(port: s.port, path: "/health").status == 200)
        }
    }

    @Test func pipelinedRequestsAnswerInOrder() async throws {
        try await withServer { s in
            let raw = "GET /health HTTP/1.1\r\nHost: x\r\n\r\nGET /nope HTTP/1.1\r\nHost: x\r\n\r\nGET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
            let results = RawHTTP.parse(try RawHTTP.exchange(port: s.port, request: Array(raw.utf8)))
            #expect(results.map(\.status) == [200, 404, 200])
        }
    }

    @Test func portInUseIsAClearError() async throws {
        let monitor = MemoryMonitor(configuration: MonitorConfiguration())
        let cache = ExpositionCache(monitor: monitor, maxAge: .seconds(60))
        let first = try await HTTPServer.bind(
            host: "127.0.0.1", listeners: [.init(role: "test", port: 0, routes: [.metrics])], monitor: monitor, cache: cache,
            logger: Logger(label: "test"))
        let port = first.boundPorts[0]
        var message = "bound"
        do {
            let second = try await HTTPServer.bind(
                host: "127.0.0.1", listeners: [.init(role: "metrics", port: port, routes: [.metrics])], monitor: monitor, cache: cache,
                logger: Logger(label: "test"))
            await second.close()
        } catch {
            message = "\(error)"
        }
        await first.close()
        #expect(message == "cannot listen on 127.0.0.1:\(port) for the metrics endpoint: address already in use")
    }

    /// A connected socket with a 5 s receive timeout.
    func connectSocket(_ port: Int) -> Int32 { RawHTTP.connectSocket(port: port, timeoutSeconds: 5) }

    /// What the next recv sees: 0 when the server closed the connection, -1 on the 5 s timeout.
    func recvResult(_ fd: Int32) -> Int {
        var buffer = [UInt8](repeating: 0, count: 65536)
        return buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
    }

    /// A connection that sends nothing is closed after the idle timeout (a slow or idle client
    /// cannot hold a descriptor), and a keep-alive connection is closed by the shutdown once its
    /// response is written.
    @Test func idleConnectionsCloseAndShutdownQuiesces() async throws {
        let (_, server) = try await serve(limits: { var l = HTTPLimits(); l.idleTimeout = .milliseconds(300); return l }())
        let port = server.boundPorts[0]
        let idle = connectSocket(port)
        defer { close(idle) }
        #expect(recvResult(idle) == 0, "the idle connection was not closed by the server")

        let kept = connectSocket(port)
        defer { close(kept) }
        let request = Array("GET /health HTTP/1.1\r\nHost: x\r\n\r\n".utf8)
        _ = request.withUnsafeBytes { send(kept, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
        #expect(recvResult(kept) > 0)  // the response; the connection stays open (keep-alive)
        // The idle one's close is counted once its channel has gone inactive: shortly after the client saw it.
        #expect(await poll(seconds: 5) { server.openConnections == 1 }, "\(server.openConnections) open")
        await server.close()
        #expect(recvResult(kept) == 0, "shutdown did not close the keep-alive connection")
        #expect(server.openConnections == 0)
    }

    func sendAll(_ fd: Int32, _ bytes: [UInt8]) {
        var offset = 0
        while offset < bytes.count {
            let n = bytes[offset...].withUnsafeBytes { send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            if n <= 0 { return }
            offset += n
        }
    }

    /// The status of the first response on `fd`, or nil when the server closed without one.
    func status(_ fd: Int32) -> Int? {
        var received: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 4096)
        while !received.contains(UInt8(ascii: "\n")) {
            let n = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if n <= 0 { break }
            received += buffer[..<n]
        }
        let line = String(decoding: received.prefix { $0 != UInt8(ascii: "\r") }, as: UTF8.self)
        return line.split(separator: " ").dropFirst().first.flatMap { Int($0) }
    }

    /// 431 for a 1 MiB header, 414 for a long URI, 413 for a 2 MiB body, 408 for a request that
    /// dribbles past the request timeout; each counted by reason, and the server keeps serving.
    @Test func limitsAnswerAndCount() async throws {
        var limits = HTTPLimits()
        limits.requestTimeout = .milliseconds(500)
        let (monitor, server) = try await serve(limits: limits)
        let port = server.boundPorts[0]
        func exchange(_ head: String, body: [UInt8] = []) -> Int? {
            let fd = connectSocket(port)
            defer { close(fd) }
            sendAll(fd, Array(head.utf8) + body)
            return status(fd)
        }
        let bigHeader = "GET /health HTTP/1.1\r\nHost: x\r\nX-Big: " + String(repeating: "a", count: 1 << 20) + "\r\n\r\n"
        #expect(exchange(bigHeader) == 431)
        let mediumHeader = "GET /health HTTP/1.1\r\nHost: x\r\nX-Big: " + String(repeating: "a", count: 20_000) + "\r\n\r\n"
        #expect(exchange(mediumHeader) == 431)
        #expect(exchange("GET /" + String(repeating: "u", count: 9000) + " HTTP/1.1\r\nHost: x\r\n\r\n") == 414)
        let body = [UInt8](repeating: 0x41, count: 2 << 20)
        #expect(exchange("POST /health/actions/gc HTTP/1.1\r\nHost: x\r\nContent-Length: \(body.count)\r\n\r\n", body: body) == 413)
        // A slowloris: part of a request line, then nothing.
        let slow = connectSocket(port)
        defer { close(slow) }
        sendAll(slow, Array("GET /heal".utf8))
        let clock = ContinuousClock()
        let started = clock.now
        #expect(status(slow) == 408)
        #expect(clock.now - started < .seconds(3))
        #expect(exchange("GET /health HTTP/1.1\r\nHost: x\r\n\r\n") == 200)
        let rejected = monitor.metrics.httpRejected
        #expect(rejected.value("header_too_large") == 2)
        #expect(rejected.value("uri_too_long") == 1)
        #expect(rejected.value("body_too_large") == 1)
        #expect(rejected.value("slow_request") == 1)
        await server.close()
    }

    /// 500 slow clients hold connections; a scrape still answers within a second, and the slow
    /// ones are closed at the request timeout.
    @Test func aScrapeSucceedsBeside500SlowClients() async throws {
        var limits = HTTPLimits()
        limits.requestTimeout = .seconds(2)
        let (monitor, server) = try await serve(limits: limits, maxConnections: 1000)
        let port = server.boundPorts[0]
        var slow: [Int32] = []
        defer { for fd in slow { close(fd) } }
        for _ in 0..<500 {
            let fd = connectSocket(port)
            sendAll(fd, Array("GET /metrics HTTP/1.1\r\nHost: x\r\nX-Slow: ".utf8))
            slow.append(fd)
        }
        #expect(await poll { server.openConnections >= 500 })
        let clock = ContinuousClock()
        let started = clock.now
        let scrape = try RawHTTP.request(port: port, path: "/metrics")
        let elapsed = clock.now - started
        #expect(scrape.status == 200)
        #expect(elapsed < .seconds(1), "scrape took \(elapsed) beside 500 slow clients")
        #expect(await poll(seconds: 10) { monitor.metrics.httpRejected.value("slow_request") == 500 })
        #expect(await poll { server.openConnections == 0 })
        print("slowloris: scrape answered in \(elapsed) beside 500 slow clients; all 500 closed \(clock.now - started) after it (request timeout 2 s)")
        await server.close()
    }

    /// A connection that never sends a byte is closed at the first-byte timeout, counted, without
    /// a reply; a keep-alive connection that was answered waits for its next request as before.
    @Test func silentConnectionsCloseAtTheFirstByteTimeout() async throws {
        var limits = HTTPLimits()
        limits.firstByteTimeout = .milliseconds(300)
        let (monitor, server) = try await serve(limits: limits)
        let port = server.boundPorts[0]
        let silent = connectSocket(port)
        defer { close(silent) }
        #expect(recvResult(silent) == 0, "the silent connection was not closed")
        #expect(monitor.metrics.httpRejected.value("silent_connection") == 1)
        let kept = connectSocket(port)
        defer { close(kept) }
        let request = Array("GET /health HTTP/1.1\r\nHost: x\r\n\r\n".utf8)
        sendAll(kept, request)
        #expect(status(kept) == 200)
        try await Task.sleep(for: .milliseconds(600))
        sendAll(kept, request)
        #expect(status(kept) == 200, "a keep-alive connection was closed by the first-byte timeout")
        #expect(monitor.metrics.httpRejected.value("silent_connection") == 1)
        await server.close()
    }

    /// Every slot held by a silent client: each new connection takes the slot of the one that
    /// waited longest, so scrapes are served; a connection being answered is never the one closed,
    /// and only when every slot is answering is a connection refused.
    @Test func aFullServerEvictsTheLongestWaitingConnection() async throws {
        let (monitor, server) = try await serve(maxConnections: 8)
        let rejected = monitor.metrics.httpRejected
        // The policy, on embedded channels.
        let limit = ConnectionLimit(maximum: 2, rejected: rejected, logger: Logger(label: "test"))
        let a = EmbeddedChannel(), b = EmbeddedChannel(), c = EmbeddedChannel(), d = EmbeddedChannel()
        for channel in [a, b, c, d] { try await channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 1)).get() }
        let slotA = limit.admit(a)
        #expect(limit.admit(b) != nil)
        slotA?.busy()
        let slotC = limit.admit(c)
        #expect(slotC != nil)
        #expect(!b.isActive, "the waiting connection was not closed")
        #expect(a.isActive && c.isActive)
        #expect(rejected.value("idle_evicted") == 1)
        slotC?.busy()
        #expect(limit.admit(d) == nil, "every slot answers a request: the new connection is refused")
        #expect(rejected.value("connection_limit") == 1)
        slotA?.waiting()
        #expect(limit.admit(d) != nil)
        #expect(!a.isActive && c.isActive)

        // Two pipelined requests: the first answered, the second still being answered. The
        // connection is not waiting, so it is not evicted.
        let pipelinedRejected = MemoryMonitor(configuration: MonitorConfiguration()).metrics.httpRejected
        let single = ConnectionLimit(maximum: 1, rejected: pipelinedRejected, logger: Logger(label: "test"))
        let p = EmbeddedChannel(), q = EmbeddedChannel()
        for channel in [p, q] { try await channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 1)).get() }
        let slotP = single.admit(p)
        slotP?.busy()
        slotP?.busy()
        slotP?.waiting()
        #expect(single.admit(q) == nil)
        #expect(p.isActive)
        slotP?.waiting()
        #expect(single.admit(q) != nil)
        #expect(!p.isActive)

        // The server, with 8 slots full of silent clients.
        let port = server.boundPorts[0]
        var silent: [Int32] = []
        defer { for fd in silent { close(fd) } }
        for _ in 0..<8 { silent.append(connectSocket(port)) }
        #expect(await poll { server.openConnections == 8 })
        var served = 0
        for _ in 0..<20 {
            silent.append(connectSocket(port))
            if (try? RawHTTP.request(port: port, path: "/metrics"))?.status == 200 { served += 1 }
        }
        #expect(served == 20)
        #expect((rejected.value("idle_evicted") ?? 0) >= 2 + 20)
        #expect(server.openConnections <= 8)
        await server.close()
    }

    func serve(limits: HTTPLimits = HTTPLimits(), maxConnections: Int = 512) async throws -> (monitor: MemoryMonitor, server: HTTPServer) {
        try await serveOnce(limits: limits, maxConnections: maxConnections)
    }

}

/// A server over a monitor that checked once, on an ephemeral 127.0.0.1 port.
func serveOnce(limits: HTTPLimits = HTTPLimits(), maxConnections: Int = 512) async throws -> (monitor: MemoryMonitor, server: HTTPServer) {
    let monitor = MemoryMonitor(configuration: MonitorConfiguration())
    monitor.check()
    let cache = ExpositionCache(monitor: monitor, maxAge: .seconds(60))
    let server = try await HTTPServer.bind(
        host: "127.0.0.1", listeners: [.init(role: "test", port: 0, routes: [.health, .metrics])], monitor: monitor, cache: cache,
        logger: Logger(label: "test"), maxConnections: maxConnections, limits: limits)
    return (monitor, server)
}

/// Graceful shutdown while clients keep connecting: every connection the listeners accepted is
/// told to finish (NIOExtras' quiescing, which tracks them on their event loops), none is left to
/// be closed outright at the end of the grace period.
@Suite("Quiescing", .offCooperativePool)
struct QuiescingTests {
    @Test func connectionsAcceptedDuringShutdownAreQuiescedToo() async throws {
        let (_, server) = try await serveOnce()
        let port = server.boundPorts[0]
        // Idle keep-alive connections, each after one answered request.
        var idle: [Int32] = []
        for _ in 0..<20 {
            let fd = RawHTTP.connectSocket(port: port)
            #expect(fd >= 0)
            let request = Array("GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".utf8)
            _ = request.withUnsafeBytes { send(fd, $0.baseAddress, $0.count, 0) }
            var buffer = [UInt8](repeating: 0, count: 4096)
            #expect(recv(fd, &buffer, buffer.count, 0) > 0)
            idle.append(fd)
        }
        // Clients that keep connecting (bounded: 500 attempts) while the server shuts down.
        let connector = Task.detached { () -> [Int32] in
            var fds: [Int32] = []
            for _ in 0..<500 {
                let fd = RawHTTP.connectSocket(port: port, timeoutSeconds: 1)
                if fd < 0 { break }
                fds.append(fd)
            }
            return fds
        }
        try await Task.sleep(for: .milliseconds(20))
        let forced = await server.close(grace: .seconds(10))
        let late = await connector.value
        #expect(forced == 0, "\(forced) connections were not quiesced and had to be closed outright")
        #expect(server.openConnections == 0)
        // Every client sees the end of its connection.
        for fd in idle + late {
            var buffer = [UInt8](repeating: 0, count: 4096)
            var n = recv(fd, &buffer, buffer.count, 0)
            while n > 0 { n = recv(fd, &buffer, buffer.count, 0) }
            #expect(n == 0 || errno == ECONNRESET)
            close(fd)
        }
    }
}
