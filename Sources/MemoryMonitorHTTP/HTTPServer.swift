import Logging
import MemoryMonitor
import NIOCore
import NIOHTTP1
import NIOPosix
import ServiceLifecycle

/// A listener could not be opened.
public struct ListenError: Error, CustomStringConvertible {
    public var role: String
    public var address: String
    public var port: Int
    public var reason: String

    public var description: String { "cannot listen on \(address):\(port) for the \(role) endpoint: \(reason)" }
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
    private let logger: Logger
    /// The ports actually bound, in listener order (differs from the asked port when it was 0).
    public let boundPorts: [Int]

    private init(channels: [Channel], logger: Logger) {
        self.channels = channels
        self.logger = logger
        self.boundPorts = channels.map { $0.localAddress?.port ?? 0 }
    }

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
    public static func bind(
        host: String, listeners: [Listener], monitor: MemoryMonitor, cache: ExpositionCache, logger: Logger,
        group: MultiThreadedEventLoopGroup = .singleton
    ) async throws -> HTTPServer {
        var channels: [Channel] = []
        for listener in listeners {
            let router = Router(monitor: monitor, cache: cache, routes: listener.routes, logger: logger)
            let bootstrap = ServerBootstrap(group: group)
                .serverChannelOption(.backlog, value: 256)
                .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
                .childChannelOption(.socketOption(.tcp_nodelay), value: 1)
                .childChannelOption(.maxMessagesPerRead, value: 16)
                .childChannelInitializer { channel in
                    channel.eventLoop.makeCompletedFuture {
                        try channel.pipeline.syncOperations.configureHTTPServerPipeline(withErrorHandling: false)
                        try channel.pipeline.syncOperations.addHandler(HTTPRequestHandler(router: router, logger: logger))
                    }
                }
            do {
                let channel = try await bootstrap.bind(host: host, port: listener.port).get()
                channels.append(channel)
                logger.info(
                    "listening",
                    metadata: ["role": "\(listener.role)", "address": "\(host):\(channel.localAddress?.port ?? listener.port)"])
            } catch {
                for channel in channels { try? await channel.close() }
                throw ListenError(role: listener.role, address: host, port: listener.port, reason: Self.describe(error))
            }
        }
        return HTTPServer(channels: channels, logger: logger)
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
        await close()
    }

    /// Closes every listener; connections in progress finish their current response.
    public func close() async {
        for channel in channels { try? await channel.close() }
        logger.info("listeners closed")
    }
}

/// One connection: collects a request, asks the router, writes the response.
final class HTTPRequestHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    /// Request bodies are not used by any route; larger ones are refused.
    static let maximumBodyBytes = 64 * 1024

    private enum State {
        case idle
        case receiving(HTTPRequestHead, bodyBytes: Int)
        case refused
    }

    private let router: Router
    private let logger: Logger
    private var state = State.idle

    init(router: Router, logger: Logger) {
        self.router = router
        self.logger = logger
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch (unwrapInboundIn(data), state) {
        case (.head(let head), _):
            state = .receiving(head, bodyBytes: 0)
        case (.body(let chunk), .receiving(let head, let bytes)):
            let total = bytes + chunk.readableBytes
            if total > Self.maximumBodyBytes {
                state = .refused
                write(context: context, head: head, response: .error(.payloadTooLarge, "request body larger than 65536 bytes"), close: true)
            } else {
                state = .receiving(head, bodyBytes: total)
            }
        case (.end, .receiving(let head, _)):
            state = .idle
            let response = router.respond(method: head.method, uri: head.uri, headers: head.headers)
            write(context: context, head: head, response: response, close: !head.isKeepAlive)
        case (.body, _), (.end, _):
            break
        }
    }

    private func write(context: ChannelHandlerContext, head request: HTTPRequestHead, response: Response, close: Bool) {
        var headers = response.headers
        headers.add(name: "Content-Length", value: String(response.body.readableBytes))
        if close { headers.add(name: "Connection", value: "close") }
        let head = HTTPResponseHead(version: request.version, status: response.status, headers: headers)
        context.write(wrapOutboundOut(.head(head)), promise: nil)
        if request.method != .HEAD { context.write(wrapOutboundOut(.body(.byteBuffer(response.body))), promise: nil) }
        let done = context.writeAndFlushPromise(wrapOutboundOut(.end(nil)))
        if close {
            let channel = context.channel
            done.whenComplete { _ in channel.close(promise: nil) }
        }
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        if error is HTTPParserError {
            // A malformed request: answer 400 once and close this connection; the server serves on.
            let request = HTTPRequestHead(version: .http1_1, method: .GET, uri: "/")
            state = .refused
            write(context: context, head: request, response: .error(.badRequest, "malformed HTTP request"), close: true)
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
