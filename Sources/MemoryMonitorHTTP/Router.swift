import Logging
import MemoryMonitor
import NIOCore
import NIOHTTP1

/// A response before it is written: status, headers, body.
package struct Response: Sendable {
    package var status: HTTPResponseStatus
    package var headers: HTTPHeaders
    package var body: ByteBuffer

    /// A JSON response.
    package static func json(_ status: HTTPResponseStatus, _ value: JSONValue, extraHeaders: [(String, String)] = []) -> Response {
        var headers = HTTPHeaders([("Content-Type", "application/json"), ("Cache-Control", "no-store")])
        for (name, value) in extraHeaders { headers.add(name: name, value: value) }
        return Response(status: status, headers: headers, body: ByteBuffer(string: value.serialized + "\n"))
    }

    /// A JSON error body: `{"error": message, "status": code}`.
    package static func error(_ status: HTTPResponseStatus, _ message: String, extraHeaders: [(String, String)] = []) -> Response {
        json(status, .object(["error": .string(message), "status": .number(Double(status.code))]), extraHeaders: extraHeaders)
    }
}

/// A response now, or work to run off the event loop that produces one.
package enum Reply: Sendable {
    /// Ready: built from the published snapshot.
    case now(Response)
    /// Needs a check or a blocking action first: the server runs it on a task, never on the event loop.
    case later(@Sendable () async -> Response)
}

/// Maps a request to a response. Reads published snapshots; what needs a fresh check or a
/// blocking action is returned as `.later` work.
public struct Router: Sendable {
    /// Which routes a listener serves.
    public struct Routes: OptionSet, Sendable {
        public let rawValue: Int
        public init(rawValue: Int) { self.rawValue = rawValue }
        /// /health and below.
        public static let health = Routes(rawValue: 1)
        /// /metrics.
        public static let metrics = Routes(rawValue: 2)
    }

    let monitor: MemoryMonitor
    let cache: ExpositionCache
    let routes: Routes
    let logger: Logger
    let allowedHosts: HostAllowList
    let reports = ReportBuilder()
    private let refusalLogLimit = LogRateLimit(burst: 5, windowSeconds: 10)

    package init(monitor: MemoryMonitor, cache: ExpositionCache, routes: Routes, logger: Logger = Logger(label: "memory-monitor")) {
        self.monitor = monitor
        self.cache = cache
        self.routes = routes
        self.logger = logger
        self.allowedHosts = HostAllowList(allowedHosts: monitor.configuration.server.allowedHosts)
    }

    /// The reply to one request. HEAD is answered like GET; the server drops the body.
    package func reply(method: HTTPMethod, uri: String, headers: HTTPHeaders, remote: SocketAddress? = nil) -> Reply {
        let (path, query) = Self.split(uri)
        let isRead = method == .GET || method == .HEAD
        switch path {
        case "/metrics" where routes.contains(.metrics):
            guard isRead else { return .now(methodNotAllowed("GET, HEAD")) }
            return metrics(headers: headers)
        case "/health/actions/gc" where routes.contains(.health), "/health/actions/profile" where routes.contains(.health):
            guard method == .POST else { return .now(methodNotAllowed("POST")) }
            if let refusal = hostRefusal(headers) ?? Self.crossOrigin(headers) ?? Self.authorize(headers: headers, remote: remote, token: monitor.configuration.security.actionToken) {
                let (allowed, held) = refusalLogLimit.allow("refused")
                if allowed {
                    var metadata: Logger.Metadata = ["path": "\(path)", "status": "\(refusal.status.code)", "remote": "\(remote?.ipAddress ?? "unknown")"]
                    if held > 0 { metadata["log_lines_held_back"] = "\(held)" }
                    logger.warning("mutating request refused", metadata: metadata)
                }
                return .now(refusal)
            }
            let monitor = monitor
            if path == "/health/actions/profile" {
                let seconds: Double
                switch Self.seconds(query, default: monitor.configuration.monitoring.leakDetection.profileSeconds) {
                case .success(let value): seconds = value
                case .failure(let error): return .now(.error(.badRequest, error.message))
                }
                // The profile waits `seconds` for the agent to trace: off the event loop.
                return .later {
                    switch await monitor.profileAllocations(seconds: seconds) {
                    case .success(let profile): return .json(.ok, profile.json)
                    case .failure(let refusal): return .error(.conflict, "\(refusal)")
                    }
                }
            }
            // Actions block (malloc_trim, cache clearers) or wait (settle_seconds): off the event loop.
            return .later {
                guard let records = await monitor.cleanUp() else {
                    return .error(
                        .conflict,
                        "no clean-up reaches the target: with another process as the target, set auto_response.warning_actions.signal or http_hook")
                }
                return .json(.ok, HealthReport.cleanup(records, monitor: monitor))
            }
        case "/health/metrics/history" where routes.contains(.health):
            guard isRead else { return .now(methodNotAllowed("GET, HEAD")) }
            switch Self.hours(query, default: 1) {
            case .success(let hours):
                switch Self.step(query, hours: hours) {
                case .success(let step):
                    let monitor = monitor
                    // The window ends at the snapshot's check: one reply per check and query.
                    let key = "history \(monitor.snapshot?.generation ?? 0) \(hours) \(step.map { "\($0)" } ?? "-")"
                    return reports.reply(key: key) { .json(.ok, HealthReport.history(monitor, hours: hours, step: step)) }
                case .failure(let error): return .now(.error(.badRequest, error.message))
                }
            case .failure(let error): return .now(.error(.badRequest, error.message))
            }
        case "/health/memory" where routes.contains(.health) && isRead:
            // A function of the snapshot (and the trigger's state): built once per check, off the
            // event loop, and served from the kept reply until the next check.
            let monitor = monitor
            let snapshot = monitor.snapshot
            let pressure = monitor.pressureStatus
            let key = "memory \(snapshot?.generation ?? 0) \(pressure)"
            return reports.reply(key: key, onReportThread: false) {
                let (status, body) = HealthReport.memory(snapshot, pressureTrigger: pressure)
                return .json(HTTPResponseStatus(statusCode: status), body)
            }
        case "/health", "/health/actions", "/health/leaks", "/health/alerts":
            // Health reports are built off the event loop (on the task pool, never behind a
            // history build): the event loops parse requests and write replies, and a burst of
            // health checks does not hold back a scrape served from the cache.
            guard routes.contains(.health), isRead else { return .now(respondNow(method: method, path: path, query: query, headers: headers)) }
            let router = self
            return .later { router.respondNow(method: method, path: path, query: query, headers: headers) }
        default:
            return .now(respondNow(method: method, path: path, query: query, headers: headers))
        }
    }

    private func respondNow(method: HTTPMethod, path: Substring, query: Substring, headers: HTTPHeaders) -> Response {
        let wantsHTML = headers.first(name: "accept")?.contains("text/html") ?? false
        let isRead = method == .GET || method == .HEAD
        switch path {
        case "/health" where routes.contains(.health):
            guard isRead else { return methodNotAllowed("GET, HEAD") }
            let (status, body) = HealthReport.overall(monitor)
            return .json(HTTPResponseStatus(statusCode: status), body)
        case "/health/memory" where routes.contains(.health):
            // Reads are answered in `reply` (built once per check); only other methods come here.
            return methodNotAllowed("GET, HEAD")
        case "/health/actions" where routes.contains(.health):
            guard isRead else { return methodNotAllowed("GET, HEAD") }
            switch Self.hours(query, default: 24) {
            case .success(let hours): return .json(.ok, HealthReport.actions(monitor, hours: hours))
            case .failure(let error): return .error(.badRequest, error.message)
            }
        case "/health/leaks" where routes.contains(.health):
            guard isRead else { return methodNotAllowed("GET, HEAD") }
            return .json(.ok, HealthReport.leaks(monitor))
        case "/health/alerts" where routes.contains(.health):
            guard isRead else { return methodNotAllowed("GET, HEAD") }
            switch Self.hours(query, default: 24) {
            case .success(let hours): return .json(.ok, HealthReport.alerts(monitor.alerts.summary(hours: hours)))
            case .failure(let error): return .error(.badRequest, error.message)
            }
        case "/":
            guard isRead else { return methodNotAllowed("GET, HEAD") }
            if routes.contains(.metrics) && (!routes.contains(.health) || wantsHTML) { return Self.landingPage(routes: routes) }
            var endpoints: [JSONValue] = []
            if routes.contains(.metrics) { endpoints.append("/metrics") }
            if routes.contains(.health) {
                endpoints += ["/health", "/health/memory", "/health/alerts?hours=24", "/health/metrics/history?hours=1&step=60", "/health/actions?hours=24",
                    "/health/leaks", "POST /health/actions/gc", "POST /health/actions/profile?seconds=60",
                ]
            }
            return .json(.ok, ["name": "memory-monitor", "version": .string(MonitorMetrics.version), "endpoints": .array(endpoints)])
        default:
            // A long path is not echoed whole.
            return .error(.notFound, "no route for \(path.count > 200 ? path.prefix(200) + "…" : path)")
        }
    }

    private func metrics(headers: HTTPHeaders) -> Reply {
        let negotiated = ContentNegotiation.negotiate(accept: headers.first(name: "accept"))
        let format = negotiated.format
        let gzip = ContentNegotiation.acceptsGzip(acceptEncoding: headers.first(name: "accept-encoding"))
        logger.debug("scrape", metadata: ["content_type": "\(negotiated.contentType)", "gzip": "\(gzip)"])
        // The hot path: a fresh snapshot's body is served from the cache, on the event loop.
        if let body = cache.freshBody(format: format, acceptsGzip: gzip) { return .now(Self.metricsResponse(body, contentType: negotiated.contentType)) }
        let cache = cache
        return .later { Self.metricsResponse(await cache.body(format: format, acceptsGzip: gzip), contentType: negotiated.contentType) }
    }

    private static func metricsResponse(_ body: ExpositionCache.Body, contentType: String) -> Response {
        var responseHeaders = HTTPHeaders([("Content-Type", contentType), ("Vary", "Accept, Accept-Encoding")])
        if body.gzipped { responseHeaders.add(name: "Content-Encoding", value: "gzip") }
        return Response(status: .ok, headers: responseHeaders, body: body.bytes)
    }

    /// The small HTML page exporters serve at `/` on the metrics port.
    static func landingPage(routes: Routes) -> Response {
        var links = "<li><a href=\"/metrics\">/metrics</a>: the exposition (text 0.0.4, OpenMetrics, gzip)</li>"
        if routes.contains(.health) {
            for path in ["/health", "/health/memory", "/health/alerts?hours=24", "/health/metrics/history?hours=1&amp;step=60", "/health/actions?hours=24"] {
                links += "<li><a href=\"\(path)\">\(path)</a></li>"
            }
        } else {
            links += "<li>The health API (<code>/health</code>, <code>/health/memory</code>, <code>/health/alerts</code>, <code>/health/actions</code>) is on the health port.</li>"
        }
        let html = """
            <!DOCTYPE html>
            <html lang="en"><head><meta charset="utf-8"><title>memory-monitor</title></head>
            <body><h1>memory-monitor</h1>
            <p>Prometheus exporter and health API for process, container and host memory. Version \(MonitorMetrics.versionDescription).</p>
            <ul>\(links)</ul>
            </body></html>

            """
        return Response(
            status: .ok, headers: HTTPHeaders([("Content-Type", "text/html; charset=utf-8"), ("Cache-Control", "no-store")]),
            body: ByteBuffer(string: html))
    }

    private func methodNotAllowed(_ allow: String) -> Response {
        .error(.methodNotAllowed, "method not allowed; use \(allow)", extraHeaders: [("Allow", allow)])
    }

    /// Nil when a mutating request may proceed; otherwise the refusal. With a token, a request
    /// needs `Authorization: Bearer <token>` (401 without, 403 when wrong). Without one, only
    /// loopback clients may mutate (403 for anyone else).
    static func authorize(headers: HTTPHeaders, remote: SocketAddress?, token: String?) -> Response? {
        if let token {
            // Authorization: Bearer, or X-Memory-Action-Token where Authorization carries basic auth.
            let presented: String?
            if let header = headers.first(name: "authorization"), header.count > 7, header.prefix(7).lowercased() == "bearer " {
                presented = String(header.dropFirst(7))
            } else {
                presented = headers.first(name: "x-memory-action-token")
            }
            guard let presented else {
                return .error(
                    .unauthorized, "this endpoint needs Authorization: Bearer <security.action_token> (or X-Memory-Action-Token)",
                    extraHeaders: [("WWW-Authenticate", "Bearer realm=\"memory-monitor\"")])
            }
            guard constantTimeEqual(Array(presented.utf8), Array(token.utf8)) else {
                return .error(.forbidden, "the action token is not the configured security.action_token")
            }
            return nil
        }
        guard let remote, isLoopback(remote) else {
            return .error(
                .forbidden, "mutating endpoints answer loopback clients only; set security.action_token (MEMORY_ACTION_TOKEN) to allow others with a bearer token")
        }
        return nil
    }

    /// A refusal when `Host` is not a name this server answers to (DNS rebinding), counted in
    /// `memory_http_rejected_total{reason="host_not_allowed"}`.
    func hostRefusal(_ headers: HTTPHeaders) -> Response? {
        guard !allowedHosts.allows(hostHeader: headers.first(name: "host")) else { return nil }
        monitor.metrics.httpRejected.increment("host_not_allowed")
        return .error(
            .forbidden,
            "Host is not a name of this server: mutating endpoints answer loopback names and addresses, this host's own names and addresses, and server.allowed_hosts")
    }

    /// A refusal when a browser sent the request from another origin: `Origin` present and not
    /// naming this server's `Host` (a page elsewhere POSTing to a monitor on localhost).
    static func crossOrigin(_ headers: HTTPHeaders) -> Response? {
        guard let origin = headers.first(name: "origin") else { return nil }
        let host = headers.first(name: "host")?.lowercased() ?? ""
        var authority = origin.lowercased()[...]
        for scheme in ["http://", "https://"] where authority.hasPrefix(scheme) { authority = authority.dropFirst(scheme.count) }
        if !host.isEmpty, authority == host[...] { return nil }
        return .error(.forbidden, "cross-origin request refused: Origin does not match Host")
    }

    /// 127.0.0.0/8, ::1 and IPv4-mapped loopback.
    static func isLoopback(_ address: SocketAddress) -> Bool {
        guard let ip = address.ipAddress else { return false }
        return ip.hasPrefix("127.") || ip == "::1" || ip.hasPrefix("::ffff:127.")
    }

    /// Compares without an early exit, so the time taken does not reveal a matching prefix.
    static func constantTimeEqual(_ a: [UInt8], _ b: [UInt8]) -> Bool {
        var difference = a.count ^ b.count
        for i in 0..<max(a.count, b.count) {
            difference |= Int((i < a.count ? a[i] : 0) ^ (i < b.count ? b[i] : 0))
        }
        return difference == 0
    }

    /// Path and query of a request target; an absolute-form target keeps only its path.
    static func split(_ uri: String) -> (path: Substring, query: Substring) {
        var target = uri[...]
        for scheme in ["http://", "https://"] where target.lowercased().hasPrefix(scheme) {
            target = target.dropFirst(scheme.count)
            target = target.firstIndex(of: "/").map { target[$0...] } ?? "/"
        }
        guard let q = target.firstIndex(of: "?") else { return (target, "") }
        return (target[..<q], target[target.index(after: q)...])
    }

    /// The `hours` query parameter: a number > 0 and at most 8760 (a year).
    static func hours(_ query: Substring, default defaultValue: Double) -> Result<Double, HoursError> {
        for pair in query.split(separator: "&") {
            let kv = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            guard kv.first == "hours" else { continue }
            let raw = kv.count > 1 ? String(kv[1]) : ""
            guard let value = Double(raw), value.isFinite, value > 0, value <= 8760 else {
                return .failure(HoursError(message: "query parameter hours must be a number > 0 and <= 8760, got \"\(raw.prefix(64))\""))
            }
            return .success(value)
        }
        return .success(defaultValue)
    }

    /// The optional `seconds` query parameter of a profile: 1 to 3600.
    static func seconds(_ query: Substring, default defaultValue: Double) -> Result<Double, HoursError> {
        for pair in query.split(separator: "&") {
            let kv = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            guard kv.first == "seconds" else { continue }
            let raw = kv.count > 1 ? String(kv[1]) : ""
            guard let value = Double(raw), value.isFinite, value >= 1, value <= 3600 else {
                return .failure(HoursError(message: "query parameter seconds must be a number >= 1 and <= 3600, got \"\(raw.prefix(64))\""))
            }
            return .success(value)
        }
        return .success(defaultValue)
    }

    /// The optional `step` query parameter (seconds per downsampled point): a number ≥ 1 and at
    /// most the window; nil when absent.
    static func step(_ query: Substring, hours: Double) -> Result<Double?, HoursError> {
        for pair in query.split(separator: "&") {
            let kv = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            guard kv.first == "step" else { continue }
            let raw = kv.count > 1 ? String(kv[1]) : ""
            guard let value = Double(raw), value.isFinite, value >= 1, value <= hours * 3600 else {
                return .failure(HoursError(message: "query parameter step must be a number of seconds >= 1 and <= the window (\(Int(hours * 3600))), got \"\(raw.prefix(64))\""))
            }
            return .success(value)
        }
        return .success(nil)
    }

    /// A bad `hours` or `step` parameter.
    struct HoursError: Error {
        var message: String
    }
}
