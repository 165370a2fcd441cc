#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import NIOCore
import NIOPosix
import NIOSSL

/// A minimal SMTP submission client (RFC 5321) with STARTTLS (RFC 3207) and AUTH PLAIN / LOGIN
/// (RFC 4616, draft-murchison-sasl-login), on SwiftNIO.
struct SMTPClient: Sendable {
    let settings: MonitorConfiguration.SMTP
    let host: String

    init(settings: MonitorConfiguration.SMTP) {
        self.settings = settings
        self.host = settings.host ?? "localhost"
    }

    /// Sends one message to `recipients`. 4xx replies and connection failures are retryable,
    /// 5xx replies are not.
    func send(from: String, recipients: [String], message: String) async throws {
        let channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .connectTimeout(.seconds(10))
            .connect(host: host, port: settings.port) { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(ByteToMessageHandler(SMTPLineDecoder()))
                    return try NIOAsyncChannel<ByteBuffer, ByteBuffer>(wrappingChannelSynchronously: channel)
                }
            }
        try await channel.executeThenClose { inbound, outbound in
            var lines = inbound.makeAsyncIterator()
            func reply() async throws -> (code: Int, lines: [String]) {
                var collected: [String] = []
                while let buffer = try await lines.next() {
                    let line = String(buffer: buffer)
                    collected.append(line)
                    // "250-..." continues, "250 ..." (or a bare code) ends the reply.
                    if line.count < 4 || line[line.index(line.startIndex, offsetBy: 3)] != "-" {
                        guard let code = Int(line.prefix(3)) else { throw DeliveryError(retryable: true, "email: malformed reply \(line)") }
                        return (code, collected)
                    }
                }
                throw DeliveryError(retryable: true, "email: connection closed by the server")
            }
            func command(_ text: String, expect: ClosedRange<Int>, redact: Bool = false) async throws -> [String] {
                try await outbound.write(ByteBuffer(string: text + "\r\n"))
                let (code, lines) = try await reply()
                guard expect.contains(code) else {
                    let verb = redact ? "AUTH" : String(text.prefix { $0 != " " && $0 != ":" })
                    throw DeliveryError(retryable: (400..<500).contains(code), "email: \(verb) answered \(lines.last ?? "\(code)")")
                }
                return lines
            }
            let greeting = try await reply()
            guard greeting.code == 220 else { throw DeliveryError(retryable: (400..<500).contains(greeting.code), "email: greeting \(greeting.lines.last ?? "")") }
            let me = Self.localName()
            var extensions = try await command("EHLO \(me)", expect: 250...250)
            if settings.startTLS {
                guard extensions.contains(where: { $0.dropFirst(4).uppercased().hasPrefix("STARTTLS") }) else {
                    throw DeliveryError(retryable: false, "email: the server does not offer STARTTLS (set alerting.smtp.starttls false to send in clear)")
                }
                _ = try await command("STARTTLS", expect: 220...220)
                var tls = TLSConfiguration.makeClientConfiguration()
                if settings.insecureSkipVerify { tls.certificateVerification = .none }
                let context = try NIOSSLContext(configuration: tls)
                let serverName = Self.isIPAddress(host) ? nil : host
                let underlying = channel.channel
                try await underlying.eventLoop.submit {
                    try underlying.pipeline.syncOperations.addHandler(
                        NIOSSLClientHandler(context: context, serverHostname: serverName), position: .first)
                }.get()
                extensions = try await command("EHLO \(me)", expect: 250...250)
            }
            if let user = settings.username {
                let password = settings.password ?? ""
                let auth = extensions.first { $0.dropFirst(4).uppercased().hasPrefix("AUTH") }?.uppercased() ?? ""
                if auth.contains("PLAIN") || !auth.contains("LOGIN") {
                    _ = try await command("AUTH PLAIN " + Base64.encode(Array("\u{0}\(user)\u{0}\(password)".utf8)), expect: 235...235, redact: true)
                } else {
                    _ = try await command("AUTH LOGIN", expect: 334...334, redact: true)
                    _ = try await command(Base64.encode(Array(user.utf8)), expect: 334...334, redact: true)
                    _ = try await command(Base64.encode(Array(password.utf8)), expect: 235...235, redact: true)
                }
            }
            _ = try await command("MAIL FROM:<\(from)>", expect: 250...250)
            for recipient in recipients { _ = try await command("RCPT TO:<\(recipient)>", expect: 250...251) }
            _ = try await command("DATA", expect: 354...354)
            _ = try await command(Self.dotStuffed(message) + "\r\n.", expect: 250...250)
            _ = try? await command("QUIT", expect: 221...221)
        }
    }

    /// Every line end (CRLF, a bare CR, a bare LF) becomes CRLF, and lines beginning with "." get
    /// another "." (RFC 5321 §4.5.2): no bare CR or LF reaches the server, so a process name
    /// holding `\r.\r` cannot end the message early (SMTP smuggling).
    static func dotStuffed(_ message: String) -> String {
        var lines: [Substring.UnicodeScalarView] = [Substring.UnicodeScalarView()]
        var previousWasCR = false
        for scalar in message.unicodeScalars {
            switch scalar {
            case "\r":
                lines.append(Substring.UnicodeScalarView())
                previousWasCR = true
            case "\n":
                if !previousWasCR { lines.append(Substring.UnicodeScalarView()) }
                previousWasCR = false
            default:
                lines[lines.count - 1].append(scalar)
                previousWasCR = false
            }
        }
        return lines.map { line in
            let text = String(Substring(line))
            return text.hasPrefix(".") ? "." + text : text
        }.joined(separator: "\r\n")
    }

    static func localName() -> String {
        var buffer = [CChar](repeating: 0, count: 256)
        guard gethostname(&buffer, buffer.count) == 0 else { return "localhost" }
        let name = String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        return name.isEmpty ? "localhost" : name
    }

    static func isIPAddress(_ host: String) -> Bool {
        host.contains(":") || host.split(separator: ".").allSatisfy { UInt8($0) != nil }
    }
}

/// Splits the server's byte stream into lines without their CRLF.
struct SMTPLineDecoder: ByteToMessageDecoder {
    typealias InboundOut = ByteBuffer

    mutating func decode(context: ChannelHandlerContext, buffer: inout ByteBuffer) throws -> DecodingState {
        guard let newline = buffer.readableBytesView.firstIndex(of: UInt8(ascii: "\n")) else {
            if buffer.readableBytes > 64 * 1024 { throw DeliveryError(retryable: true, "email: reply line too long") }
            return .needMoreData
        }
        let length = newline - buffer.readerIndex
        var line = buffer.readSlice(length: length)!
        buffer.moveReaderIndex(forwardBy: 1)
        if line.readableBytesView.last == UInt8(ascii: "\r") { line = line.getSlice(at: line.readerIndex, length: line.readableBytes - 1)! }
        context.fireChannelRead(Self.wrapInboundOut(line))
        return .continue
    }
}
