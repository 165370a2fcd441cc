import Logging
import MemoryMonitor
import NIOCore
import NIOExtras
import NIOHTTP1
import NIOPosix
import NIOSSL
import ServiceLifecycle
import Synchronization

/// A listener could not be opened.
public struct ListenError: Error, CustomStringConvertible {
    public var role: String
    public var address: String
    public var port: Int
    public var reason: String

    public var description: String { "cannot listen on \(address):\(port) for the \(role) endpoint: \(reason)" }
}

/// What one connection may send; anything past a limit is answered (431, 414, 413, 408) or
/// closed, and counted in `memory_http_rejected_total{reason}`.
public struct HTTPLimits: Sendable, Equatable {
    /// Bytes of all header names and values of one request (431 beyond).
    public var maxHeaderBytes = 16 * 1024
    /// Bytes of the request target (414 beyond).
    public var maxURIBytes = 8 * 1024
    /// Bytes of a request body (413 beyond); no route reads one.
    public var maxBodyBytes = 64 * 1024
    /// A request must arrive whole within this from its first byte (408 and close otherwise): a
    /// slowloris cannot hold a connection by dribbling.
    public var requestTimeout: TimeAmount = .seconds(10)
    /// A new connection must send its first byte within this from accept, or it is closed: a
    /// client that connects and stays silent cannot hold a slot for the idle timeout.
    public var firstByteTimeout: TimeAmount = .seconds(5)
    /// A connection that sends nothing for this long is closed.
    public var idleTimeout: TimeAmount = .seconds(60)

    public init() {}

    /// The reasons `memory_http_rejected_total` counts.
    public static let reasons = [
        "connection_limit", "idle_evicted", "silent_connection", "header_too_large", "uri_too_long", "body_too_large", "slow_request", "bad_request",
        "unauthorized", "auth_backoff", "auth_busy", "host_not_allowed",
    ]
}

/// The health API and /metrics over HTTP/1.1 (SwiftNIO): one listener per distinct port.
public final class HTTPServer: Service {
    /// What one listener serves.
    public struct Listener: Sendable {
        public var role: String
        public var port: Int
        public var routes: Router.Routes

        public init(role: String, port: Int, routes: Router.Routes) {
            self.role = role
            self.port = port
            self.routes = routes
        }
    }

    private let channels: [Channel]
    private let connections: ConnectionLimit
    /// Knows every listener and every connection they accepted (on their event loops, so none
    /// slips between "stop accepting" and "tell the open ones to finish"): NIOExtras' quiescing.
    private let quiescing: ServerQuiescingHelper
    private let group: MultiThreadedEventLoopGroup
    /// How long graceful shutdown lets open connections finish (`server.shutdown_grace_seconds`).
    private let shutdownGrace: Duration
    private let logger: Logger
    /// The ports actually bound, in listener order (differs from the asked port when it was 0).
    public let boundPorts: [Int]

    private init(
        channels: [Channel], connections: ConnectionLimit, quiescing: ServerQuiescingHelper, group: MultiThreadedEventLoopGroup,
        shutdownGrace: Duration, logger: Logger
    ) {
        self.shutdownGrace = shutdownGrace
        self.channels = channels
        self.connections = connections
        self.quiescing = quiescing
        self.group = group
        self.logger = logger
        self.boundPorts = channels.map { $0.localAddress?.port ?? 0 }
    }

    /// Connections open now, across listeners.
    public var openConnections: Int { connections.count }

    /// The listeners for a health port and a metrics port: one when they are equal.
    public static func listeners(healthPort: Int, metricsPort: Int) -> [Listener] {
        if healthPort == metricsPort && healthPort != 0 {
            return [Listener(role: "health and metrics", port: healthPort, routes: [.health, .metrics])]
        }
        return [
            Listener(role: "health", port: healthPort, routes: [.health]),
            Listener(role: "metrics", port: metricsPort, routes: [.metrics]),
        ]
    }

    /// Binds every listener now, so that a port in use fails before anything else starts.
    ///
    /// - Parameters:
    ///   - maxConnections: connections open at once across listeners; more are closed at accept.
    ///     Keep it below the file-descriptor limit so that checks can still open /proc files.
    ///   - limits: header, URI and body sizes, the request and idle timeouts.
    public static func bind(
        host: String, listeners: [Listener], monitor: MemoryMonitor, cache: ExpositionCache, logger: Logger,
        maxConnections: Int = 512, limits: HTTPLimits = HTTPLimits(), security: HTTPSecurity = HTTPSecurity(),
        shutdownGrace: Duration = .seconds(5), group: MultiThreadedEventLoopGroup = .singleton
    ) async throws -> HTTPServer {
        var channels: [Channel] = []
        let rejected = monitor.metrics.httpRejected
        for reason in HTTPLimits.reasons { rejected.increment(by: 0, reason) }
        let connections = ConnectionLimit(maximum: maxConnections, rejected: rejected, logger: logger)
        let quiescing = ServerQuiescingHelper(group: group)
        for listener in listeners {
            let router = Router(monitor: monitor, cache: cache, routes: listener.routes, logger: logger)
            let bootstrap = ServerBootstrap(group: group)
                .serverChannelInitializer { channel in
                    channel.eventLoop.makeCompletedFuture {
                        try channel.pipeline.syncOperations.addHandler(quiescing.makeServerChannelHandler(channel: channel))
                    }
                }
                .serverChannelOption(.backlog, value: 256)
                .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
                // TCP level: SOL_SOCKET's option 1 is SO_DEBUG, which needs CAP_NET_ADMIN.
                .childChannelOption(.tcpOption(.tcp_nodelay), value: 1)
                .childChannelOption(.maxMessagesPerRead, value: 16)
                // A client that half-closes after its request (`printf ... | nc`, some probes)
                // still gets the reply that is built off the event loop; then the connection closes.
                .childChannelOption(.allowRemoteHalfClosure, value: true)
                .childChannelInitializer { channel in
                    channel.eventLoop.makeCompletedFuture {
                        // A failed initializer makes NIO close the connection at once.
                        guard let slot = connections.admit(channel) else { throw ConnectionLimit.Refused() }
                        let deadline = RequestDeadline(limits: limits, rejected: rejected, slot: slot)
                        // TLS first: everything after it sees plain bytes. The context is read per
                        // connection, so a reloaded certificate applies to the next one.
                        if let tls = security.tls { try channel.pipeline.syncOperations.addHandler(NIOSSLServerHandler(context: tls.context)) }
                        try channel.pipeline.syncOperations.addHandler(IdleStateHandler(readTimeout: limits.idleTimeout))
                        try channel.pipeline.syncOperations.addHandler(deadline)
                        try channel.pipeline.syncOperations.configureHTTPServerPipeline(withErrorHandling: false)
                        try channel.pipeline.syncOperations.addHandler(
                            HTTPRequestHandler(router: router, logger: logger, limits: limits, rejected: rejected, deadline: deadline, security: security))
                    }
                }
            do {
                let channel = try await bootstrap.bind(host: host, port: listener.port).get()
                channels.append(channel)
                logger.info(
                    "listening",
                    metadata: [
                        "role": "\(listener.role)", "address": "\(host):\(channel.localAddress?.port ?? listener.port)",
                        "tls": "\(security.tls != nil)", "basic_auth": "\(security.auth != nil)",
                    ])
            } catch {
                for channel in channels { try? await channel.close() }
                throw ListenError(role: listener.role, address: host, port: listener.port, reason: Self.describe(error))
            }
        }
        return HTTPServer(
            channels: channels, connections: connections, quiescing: quiescing, group: group, shutdownGrace: shutdownGrace, logger: logger)
    }

    private static func describe(_ error: any Error) -> String {
        if let io = error as? IOError {
            if io.errnoCode == 98 { return "address already in use" }
            if io.errnoCode == 13 { return "permission denied" }
            if io.errnoCode == 99 { return "address not available on this host" }
        }
        return "\(error)"
    }

    /// Serves until graceful shutdown, then closes the listeners.
    public func run() async throws {
        try? await gracefulShutdown()
        await close(grace: shutdownGrace)
    }

    /// Quiesces: closes every listener, lets each connection finish the response in progress and
    /// then closes it; connections still open after `grace` are closed outright.
    /// Returns how many connections had to be closed outright.
    @discardableResult
    public func close(grace: Duration = .seconds(5)) async -> Int {
        logger.info("closing listeners; finishing open connections", metadata: ["connections": "\(connections.count)"])
        // Closes the listeners, then sends every connection they accepted ChannelShouldQuiesceEvent
        // (each closes after the response in progress); done once all are closed.
        let done = group.next().makePromise(of: Void.self)
        quiescing.initiateShutdown(promise: done)
        let timer = done.futureResult.eventLoop.scheduleTask(in: .nanoseconds(Int64(grace.seconds * 1e9))) { [connections, logger] in
            let open = connections.openChannels()
            logger.warning("connections still open after the grace period are closed", metadata: ["connections": "\(open.count)"])
            for channel in open { channel.close(promise: nil) }
            return open.count
        }
        try? await done.futureResult.get()
        timer.cancel()
        let forced = (try? await timer.futureResult.get()) ?? 0
        logger.info("connections closed")
        return forced
    }
}

/// One connection: collects a request, asks the router, writes the response.
final class HTTPRequestHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart


    private enum State {
        case idle
        case receiving(HTTPRequestHead, bodyBytes: Int)
        case refused
    }

    private let router: Router
    private let logger: Logger
    private let limits: HTTPLimits
    private let rejected: CounterFamily
    private let deadline: RequestDeadline
    private let security: HTTPSecurity
    private var state = State.idle
    private var isActive = true
    /// A reply is being built off the event loop.
    private var replyPending = false
    /// The client half-closed: close once the pending reply is written.
    private var inputClosed = false

    init(router: Router, logger: Logger, limits: HTTPLimits, rejected: CounterFamily, deadline: RequestDeadline, security: HTTPSecurity) {
        self.router = router
        self.logger = logger
        self.limits = limits
        self.rejected = rejected
        self.deadline = deadline
        self.security = security
    }

    private func unauthorized(context: ChannelHandlerContext, head: HTTPRequestHead) {
        rejected.increment("unauthorized")
        write(
            context: context, head: head,
            response: .error(.unauthorized, "authentication required", extraHeaders: [("WWW-Authenticate", "Basic realm=\"memory-monitor\"")]),
            close: !head.isKeepAlive)
    }

    /// Counts a wrong or malformed credential against the client; logs (rate-limited) when that
    /// starts a back-off.
    private func failedLogin(_ auth: BasicAuthenticator, client: String) {
        guard let block = auth.recordFailure(client: client, now: ContinuousClock.now.secondsSinceReference) else { return }
        let gate = Self.backoffLog.allow("auth_backoff")
        guard gate.allowed else { return }
        logger.warning(
            "basic auth: backing off a client after repeated failures",
            metadata: [
                "client": "\(client)", "failures": "\(block.failures)", "seconds": "\(Int(block.seconds))",
                "log_lines_suppressed": "\(gate.suppressedBefore)",
            ])
    }
    private static let backoffLog = LogRateLimit(burst: 5, windowSeconds: 60)

    private func backOff(context: ChannelHandlerContext, head: HTTPRequestHead, seconds: Int) {
        rejected.increment("auth_backoff")
        write(
            context: context, head: head,
            response: .error(.tooManyRequests, "too many failed logins from this address; retry later", extraHeaders: [("Retry-After", String(seconds))]),
            close: !head.isKeepAlive)
    }

    private func refuse(context: ChannelHandlerContext, head: HTTPRequestHead, _ status: HTTPResponseStatus, reason: String, _ message: String) {
        rejected.increment(reason)
        state = .refused
        write(context: context, head: head, response: .error(status, message), close: true)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch (unwrapInboundIn(data), state) {
        case (.head, .refused), (.body, .refused), (.end, .refused):
            break
        case (.head(let head), _):
            if head.uri.utf8.count > limits.maxURIBytes {
                refuse(context: context, head: head, .uriTooLong, reason: "uri_too_long", "request target longer than \(limits.maxURIBytes) bytes")
                return
            }
            let headerBytes = head.headers.reduce(0) { $0 + $1.name.utf8.count + $1.value.utf8.count + 4 }
            if headerBytes > limits.maxHeaderBytes {
                refuse(
                    context: context, head: head, .requestHeaderFieldsTooLarge, reason: "header_too_large",
                    "request headers larger than \(limits.maxHeaderBytes) bytes")
                return
            }
            state = .receiving(head, bodyBytes: 0)
        case (.body(let chunk), .receiving(let head, let bytes)):
            let total = bytes + chunk.readableBytes
            if total > limits.maxBodyBytes {
                refuse(context: context, head: head, .payloadTooLarge, reason: "body_too_large", "request body larger than \(limits.maxBodyBytes) bytes")
            } else {
                state = .receiving(head, bodyBytes: total)
            }
        case (.end, .receiving(let head, _)):
            state = .idle
            deadline.requestReceived()
            // RFC 9112: an HTTP/1.1 request without Host is a 400.
            if head.version == .http1_1 && !head.headers.contains(name: "host") {
                refuse(context: context, head: head, .badRequest, reason: "bad_request", "HTTP/1.1 requests need a Host header")
                return
            }
            guard let auth = security.auth else {
                route(context: context, head: head)
                return
            }
            let client = BasicAuthenticator.clientKey(context.channel.remoteAddress)
            switch auth.decide(head.headers, client: client, now: ContinuousClock.now.secondsSinceReference) {
            case .allowed: route(context: context, head: head)
            case .backoff(let seconds):
                backOff(context: context, head: head, seconds: seconds)
            case .denied:
                // No Authorization header is a first contact, not a failure; a malformed one is.
                if head.headers.contains(name: "authorization") { failedLogin(auth, client: client) }
                unauthorized(context: context, head: head)
            case .verify(let user, let password):
                // bcrypt takes tens to hundreds of milliseconds: on its own thread, then back here.
                let promise = context.eventLoop.makePromise(of: BasicAuthenticator.Verification.self)
                promise.completeWithTask { await auth.verify(user: user, password: password, client: client) }
                let bound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
                promise.futureResult.whenSuccess { verification in
                    let (handler, context) = bound.value
                    guard handler.isActive else { return }
                    switch verification {
                    case .allowed:
                        auth.recordSuccess(client: client)
                        handler.route(context: context, head: head)
                    case .denied:
                        handler.failedLogin(auth, client: client)
                        handler.unauthorized(context: context, head: head)
                    case .backoff(let seconds):
                        handler.backOff(context: context, head: head, seconds: seconds)
                    case .busy:
                        handler.rejected.increment("auth_busy")
                        handler.write(
                            context: context, head: head,
                            response: .error(.serviceUnavailable, "too many logins are being checked; retry in a second", extraHeaders: [("Retry-After", "1")]),
                            close: !head.isKeepAlive)
                    }
                }
            }
        case (.body, _), (.end, _):
            break
        }
    }

    private func route(context: ChannelHandlerContext, head: HTTPRequestHead) {
        switch router.reply(method: head.method, uri: head.uri, headers: head.headers, remote: context.channel.remoteAddress) {
        case .now(let response):
            write(context: context, head: head, response: response, close: !head.isKeepAlive)
        case .later(let work):
            // Off the event loop; HTTPServerPipelineHandler holds pipelined requests until this response ends.
            let promise = context.eventLoop.makePromise(of: Response.self)
            promise.completeWithTask(work)
            replyPending = true
            let bound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
            promise.futureResult.whenSuccess { response in
                let (handler, context) = bound.value
                handler.replyPending = false
                guard handler.isActive else { return }
                handler.write(context: context, head: head, response: response, close: !head.isKeepAlive || handler.inputClosed)
            }
        }
    }

    private func write(context: ChannelHandlerContext, head request: HTTPRequestHead, response: Response, close: Bool) {
        var headers = response.headers
        for (name, value) in security.headers { headers.add(name: name, value: value) }
        headers.add(name: "Content-Length", value: String(response.body.readableBytes))
        if close { headers.add(name: "Connection", value: "close") }
        let head = HTTPResponseHead(version: request.version, status: response.status, headers: headers)
        context.write(wrapOutboundOut(.head(head)), promise: nil)
        if request.method != .HEAD { context.write(wrapOutboundOut(.body(.byteBuffer(response.body))), promise: nil) }
        let done = context.writeAndFlushPromise(wrapOutboundOut(.end(nil)))
        if close {
            let channel = context.channel
            done.whenComplete { _ in channel.close(promise: nil) }
        } else {
            let slot = deadline.slot
            done.whenComplete { _ in slot.waiting() }
        }
    }

    func handlerRemoved(context: ChannelHandlerContext) { isActive = false }

    func channelInactive(context: ChannelHandlerContext) {
        isActive = false
        context.fireChannelInactive()
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if event is IdleStateHandler.IdleStateEvent {
            // Idle for idleTimeout: free the descriptor (a keep-alive scraper simply reconnects).
            context.close(promise: nil)
        } else if let event = event as? ChannelEvent, event == .inputClosed {
            // The client sent all it will: answer what is pending, then close.
            inputClosed = true
            if !replyPending { context.close(promise: nil) }
        } else {
            context.fireUserInboundEventTriggered(event)
        }
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        if let parserError = error as? HTTPParserError {
            // A malformed request: answer once and close this connection; the server serves on.
            let request = HTTPRequestHead(version: .http1_1, method: .GET, uri: "/")
            guard case .refused = state else {
                if parserError == .headerOverflow {
                    refuse(context: context, head: request, .requestHeaderFieldsTooLarge, reason: "header_too_large", "request headers too large")
                } else {
                    refuse(context: context, head: request, .badRequest, reason: "bad_request", "malformed HTTP request")
                }
                return
            }
            context.close(promise: nil)
        } else {
            logger.debug("connection error", metadata: ["error": "\(error)"])
            context.close(promise: nil)
        }
    }
}

extension ChannelHandlerContext {
    fileprivate func writeAndFlushPromise(_ data: NIOAny) -> EventLoopFuture<Void> {
        let promise = eventLoop.makePromise(of: Void.self)
        writeAndFlush(data, promise: promise)
        return promise.futureResult
    }
}

@available(*, unavailable)
extension HTTPRequestHandler: Sendable {}

/// Sits before the HTTP decoder and sees raw bytes.
///
/// - From accept, the first byte must come within `firstByteTimeout`, or the connection is closed
///   without a reply (a client that connects and stays silent cannot hold a slot).
/// - The first byte of a request starts a clock; a request not received whole by
///   `requestTimeout` gets 408 and the connection is closed. A slowloris that dribbles headers
///   cannot hold a connection (the idle timeout alone would let it).
/// - It tells the connection's slot when a request is being answered, so that a full server
///   makes room by closing a connection that waits, never one that is being answered.
final class RequestDeadline: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer
    typealias OutboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    private let limits: HTTPLimits
    private let rejected: CounterFamily
    let slot: ConnectionLimit.Slot
    private var timer: Scheduled<Void>?
    /// No byte has arrived since accept: the running timer is the first-byte one.
    private var silent = true
    private var context: ChannelHandlerContext?

    init(limits: HTTPLimits, rejected: CounterFamily, slot: ConnectionLimit.Slot) {
        self.limits = limits
        self.rejected = rejected
        self.slot = slot
    }

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
        if context.channel.isActive { startFirstByteClock(context) }
    }

    func channelActive(context: ChannelHandlerContext) {
        startFirstByteClock(context)
        context.fireChannelActive()
    }

    private func startFirstByteClock(_ context: ChannelHandlerContext) {
        guard silent, timer == nil else { return }
        let loopBound = NIOLoopBound(self, eventLoop: context.eventLoop)
        timer = context.eventLoop.scheduleTask(in: limits.firstByteTimeout) { loopBound.value.expire() }
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        timer?.cancel()
        timer = nil
        self.context = nil
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        if silent {
            silent = false
            timer?.cancel()
            timer = nil
        }
        if timer == nil {
            let loopBound = NIOLoopBound(self, eventLoop: context.eventLoop)
            timer = context.eventLoop.scheduleTask(in: limits.requestTimeout) { loopBound.value.expire() }
        }
        context.fireChannelRead(data)
    }

    /// The decoder produced a whole request: stop the clock until the next byte; the request is
    /// being answered.
    func requestReceived() {
        timer?.cancel()
        timer = nil
        slot.busy()
    }

    private func expire() {
        timer = nil
        guard let context else { return }
        let channel = context.channel
        if silent {
            // Nothing was asked: nothing to answer.
            rejected.increment("silent_connection")
            channel.close(promise: nil)
            return
        }
        rejected.increment("slow_request")
        let response = "HTTP/1.1 408 Request Timeout\r\nConnection: close\r\nContent-Length: 0\r\n\r\n"
        context.writeAndFlush(wrapOutboundOut(ByteBuffer(string: response))).whenComplete { _ in channel.close(promise: nil) }
    }

    func channelInactive(context: ChannelHandlerContext) {
        timer?.cancel()
        timer = nil
        context.fireChannelInactive()
    }
}

@available(*, unavailable)
extension RequestDeadline: Sendable {}

/// Counts open connections across listeners so that the monitor never spends the file
/// descriptors its checks need on clients. When every slot is taken, a new connection takes the
/// slot of the one that has waited longest without a request being answered (silent since
/// accept, dribbling a request, or idle between keep-alive requests): that one is closed and
/// counted as `idle_evicted`. Only when every slot is answering a request is the new connection
/// refused (`connection_limit`). So silent clients cannot keep a scraper out, and a keep-alive
/// scraper that loses its idle connection simply reconnects.
final class ConnectionLimit: Sendable {
    /// The connection was over the limit.
    struct Refused: Error {}

    /// One admitted connection's place: it says whether a request is being answered on it.
    struct Slot: Sendable {
        let limit: ConnectionLimit
        let id: ObjectIdentifier

        /// A whole request arrived; until its response is written the connection is not evicted.
        func busy() { limit.mark(id, answering: +1) }
        /// A response was written; with none left to write, the connection waits for the next
        /// request. (Pipelined requests count one each, so one answered does not mark the
        /// connection waiting while the next is being answered.)
        func waiting() { limit.mark(id, answering: -1) }
    }

    private struct Entry {
        let channel: Channel
        /// Requests received and not yet answered.
        var answering = 0
        /// When it started waiting for a request; nil while one is being answered.
        var waitingSince: Double?
    }

    let maximum: Int
    private let open = Mutex<[ObjectIdentifier: Entry]>([:])
    /// The most connections open at once since the heap was last trimmed.
    private let peak = Mutex(0)
    /// A burst at least this large returns its freed heap to the kernel once it is over.
    static let trimAfter = 256
    // Refusals since the last warning, and when that was: one log line per 10 s, not one per refusal.
    private let refusals = Mutex<(count: Int, lastLog: ContinuousClock.Instant?)>((0, nil))
    private let rejected: CounterFamily
    private let logger: Logger

    init(maximum: Int, rejected: CounterFamily, logger: Logger) {
        self.maximum = max(1, maximum)
        self.rejected = rejected
        self.logger = logger
    }

    var count: Int { open.withLock { $0.count } }

    fileprivate func mark(_ id: ObjectIdentifier, answering change: Int) {
        let now = ContinuousClock.now.secondsSinceReference
        open.withLock { open in
            guard var entry = open[id] else { return }
            entry.answering = max(0, entry.answering + change)
            entry.waitingSince = entry.answering == 0 ? (entry.waitingSince ?? now) : nil
            open[id] = entry
        }
    }

    /// Admits a new connection, making room if it must; nil when every slot is answering a
    /// request (the caller closes the connection).
    func admit(_ channel: Channel) -> Slot? {
        let id = ObjectIdentifier(channel)
        let now = ContinuousClock.now.secondsSinceReference
        let (admitted, evicted) = open.withLock { open -> (Bool, Channel?) in
            var evicted: Channel?
            if open.count >= maximum {
                var oldest: (key: ObjectIdentifier, since: Double)?
                for (key, entry) in open {
                    if let since = entry.waitingSince, since < oldest?.since ?? .infinity { oldest = (key, since) }
                }
                guard let oldest else { return (false, nil) }
                evicted = open.removeValue(forKey: oldest.key)?.channel
            }
            open[id] = Entry(channel: channel, waitingSince: now)
            let count = open.count
            peak.withLock { $0 = max($0, count) }
            return (true, evicted)
        }
        if let evicted {
            rejected.increment("idle_evicted")
            evicted.close(promise: nil)
        }
        guard admitted else {
            rejected.increment("connection_limit")
            let now = ContinuousClock.now
            let report = refusals.withLock { r -> Int? in
                r.count += 1
                if let last = r.lastLog, now - last < .seconds(10) { return nil }
                defer { r = (0, now) }
                return r.count
            }
            if let report {
                logger.warning(
                    "connections refused: every connection is answering a request", metadata: ["limit": "\(maximum)", "refused": "\(report)"])
            }
            return nil
        }
        channel.closeFuture.whenComplete { [self] _ in
            let count = open.withLock { open in
                open.removeValue(forKey: id)
                return open.count
            }
            trimAfterBurst(openNow: count, on: channel.eventLoop)
        }
        return Slot(limit: self, id: id)
    }

    /// After a burst of connections (a slowloris, a flood of scrapers), the heap their buffers
    /// and channels used is free but stays with glibc's allocator: 2 000 slow clients left about
    /// 11 MiB of it (docs/security.md). Once the open connections fall to a quarter of a peak of
    /// at least `trimAfter`, it goes back to the kernel (`malloc_trim`, about a millisecond), a
    /// second later, so that the rest of the burst, closing meanwhile, is freed by then.
    private func trimAfterBurst(openNow: Int, on eventLoop: any EventLoop) {
        let burstOver = peak.withLock { peak -> Bool in
            guard peak >= Self.trimAfter, openNow <= peak / 4 else { return false }
            peak = openNow
            return true
        }
        guard burstOver else { return }
        eventLoop.scheduleTask(in: .seconds(1)) { [self] in
            let clock = ContinuousClock()
            let started = clock.now
            let released = AllocatorStatistics.trim()
            logger.debug(
                "connection burst over: free heap returned to the kernel",
                metadata: ["open": "\(count)", "released": "\(released)", "took": "\(clock.now - started)"])
        }
    }

    /// The connections open now.
    func openChannels() -> [Channel] { open.withLock { $0.values.map(\.channel) } }
}
