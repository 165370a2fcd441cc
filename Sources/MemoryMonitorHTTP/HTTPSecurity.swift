#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import Logging
import NIOSSL
import ServiceLifecycle
import Synchronization

/// What the web configuration asks of both listeners: TLS, basic auth, response headers.
public struct HTTPSecurity: Sendable {
    package var tls: TLSContextHolder?
    package var auth: BasicAuthenticator?
    package var headers: [(String, String)]

    /// Plain HTTP, no authentication, no extra headers.
    public init() { self.init(tls: nil, auth: nil, headers: []) }

    package init(tls: TLSContextHolder?, auth: BasicAuthenticator? = nil, headers: [(String, String)] = []) {
        self.tls = tls
        self.auth = auth
        self.headers = headers
    }

    /// From a checked web configuration: loads the certificate and key now (an error names the file).
    package init(_ web: WebConfiguration) throws {
        self.tls = try web.tls.map { try TLSContextHolder($0) }
        self.auth = web.basicAuthUsers.isEmpty ? nil : BasicAuthenticator(users: web.basicAuthUsers)
        self.headers = web.headers.sorted { $0.key < $1.key }.map { ($0.key, $0.value) }
    }
}

/// The TLS context new connections use, rebuilt when the certificate, key or client CA file
/// changes on disk (cert-manager, certbot): no restart needed. A change that fails to load keeps
/// the previous context and says why.
package final class TLSContextHolder: Sendable {
    package enum Reload: Equatable, Sendable {
        case unchanged
        case reloaded
        case failed(String)
    }

    let tls: WebConfiguration.TLS
    private struct State {
        var context: NIOSSLContext
        var stamps: [String]
    }
    private let state: Mutex<State>

    package init(_ tls: WebConfiguration.TLS) throws {
        self.tls = tls
        let context = try Self.build(tls)
        state = Mutex(State(context: context, stamps: Self.stamps(tls)))
    }

    /// The context for a connection accepted now.
    package var context: NIOSSLContext { state.withLock { $0.context } }

    /// Rebuilds the context if any file changed (size or modification time).
    package func reloadIfChanged() -> Reload {
        let now = Self.stamps(tls)
        guard now != state.withLock({ $0.stamps }) else { return .unchanged }
        do {
            let context = try Self.build(tls)
            state.withLock { $0 = State(context: context, stamps: now) }
            return .reloaded
        } catch {
            // Remember the stamps: the same broken files are reported once, not every poll.
            state.withLock { $0.stamps = now }
            return .failed("\(error)")
        }
    }

    private static func stamps(_ tls: WebConfiguration.TLS) -> [String] {
        [tls.certFile, tls.keyFile, tls.clientCAFile].compactMap { $0 }.map { path in
            var info = stat()
            guard stat(path, &info) == 0 else { return "\(path): missing" }
            return "\(path):\(info.st_size):\(info.st_mtim.tv_sec).\(info.st_mtim.tv_nsec)"
        }
    }

    static func build(_ tls: WebConfiguration.TLS) throws -> NIOSSLContext {
        let chain: [NIOSSLCertificate]
        do { chain = try NIOSSLCertificate.fromPEMFile(tls.certFile) } catch { throw TLSFileError(file: tls.certFile, role: "certificate", error: error) }
        guard !chain.isEmpty else { throw TLSFileError(file: tls.certFile, role: "certificate", error: nil) }
        let key: NIOSSLPrivateKey
        do { key = try NIOSSLPrivateKey(file: tls.keyFile, format: .pem) } catch { throw TLSFileError(file: tls.keyFile, role: "private key", error: error) }
        var configuration = TLSConfiguration.makeServerConfiguration(certificateChain: chain.map { .certificate($0) }, privateKey: .privateKey(key))
        configuration.minimumTLSVersion = tls.minVersion == "TLS13" ? .tlsv13 : .tlsv12
        if let max = tls.maxVersion { configuration.maximumTLSVersion = max == "TLS13" ? .tlsv13 : .tlsv12 }
        if let ca = tls.clientCAFile {
            do { _ = try NIOSSLCertificate.fromPEMFile(ca) } catch { throw TLSFileError(file: ca, role: "client CA", error: error) }
            configuration.trustRoots = .file(ca)
        }
        switch tls.clientAuth {
        case .none: configuration.certificateVerification = .none
        case .verifyIfGiven: configuration.certificateVerification = .optionalVerification
        case .requireAndVerify: configuration.certificateVerification = .noHostnameVerification
        }
        return try NIOSSLContext(configuration: configuration)
    }

    struct TLSFileError: Error, CustomStringConvertible {
        var file: String
        var role: String
        var error: (any Error)?
        var description: String { "cannot load the TLS \(role) from \(file)\(error.map { ": \($0)" } ?? ": no PEM certificate in it")" }
    }
}

/// Polls the TLS files every `interval` and swaps the context when they change.
package struct CertificateReloader: Service {
    let holder: TLSContextHolder
    let interval: Duration
    let logger: Logger

    package init(holder: TLSContextHolder, interval: Duration, logger: Logger) {
        self.holder = holder
        self.interval = interval
        self.logger = logger
    }

    package func run() async throws {
        while !Task.isShuttingDownGracefully {
            do { try await cancelWhenGracefulShutdown { try await Task.sleep(for: interval) } } catch { return }
            switch holder.reloadIfChanged() {
            case .unchanged: break
            case .reloaded: logger.notice("TLS certificate reloaded", metadata: ["cert_file": "\(holder.tls.certFile)"])
            case .failed(let reason):
                logger.error("TLS files changed but could not be loaded; the previous certificate stays in use", metadata: ["error": "\(reason)"])
            }
        }
    }
}
