#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import MemoryMonitor

/// The exporter-toolkit web configuration file (`--web.config.file`), the same YAML every
/// Prometheus exporter reads: TLS (and mTLS), bcrypt basic auth, response headers. It applies to
/// both ports. Keys the toolkit has that this exporter does not support are errors, never ignored.
package struct WebConfiguration: Sendable, Equatable {
    /// `tls_server_config.client_auth_type` values supported.
    package enum ClientAuth: String, Sendable, CaseIterable {
        case none = "NoClientCert"
        case verifyIfGiven = "VerifyClientCertIfGiven"
        case requireAndVerify = "RequireAndVerifyClientCert"
    }

    /// `tls_server_config`.
    package struct TLS: Sendable, Equatable {
        package var certFile: String
        package var keyFile: String
        package var clientCAFile: String?
        package var clientAuth: ClientAuth = .none
        /// `TLS12` (default) or `TLS13`.
        package var minVersion = "TLS12"
        package var maxVersion: String?
    }

    package var tls: TLS?
    /// `basic_auth_users`: user → bcrypt hash.
    package var basicAuthUsers: [String: String] = [:]
    /// `http_server_config.headers`, added to every response.
    package var headers: [String: String] = [:]

    package init() {}

    static let tlsVersions = ["TLS12", "TLS13"]
    /// The headers exporter-toolkit lets a web configuration set.
    static let allowedHeaders = ["Strict-Transport-Security", "X-Content-Type-Options", "X-Frame-Options", "X-XSS-Protection", "Content-Security-Policy"]

    /// Reads and checks the file; relative paths in it are relative to its directory.
    package static func load(path: String) throws(ConfigurationError) -> WebConfiguration {
        let text = try ConfigurationLoader.readFile(path)
        let directory = path.contains("/") ? String(path[..<path.lastIndex(of: "/")!]) : "."
        return try parse(yaml: text, source: path, baseDirectory: directory)
    }

    /// Parses the YAML, collecting every problem with its key path.
    package static func parse(yaml text: String, source: String, baseDirectory: String) throws(ConfigurationError) -> WebConfiguration {
        typealias Node = WebConfigurationYAML.Node
        let root: Node?
        do {
            root = try WebConfigurationYAML.parse(text)
        } catch {
            throw ConfigurationError(fileError: "\(source): invalid YAML: \(error)")
        }
        var problems: [ConfigurationProblem] = []
        func problem(_ path: String, _ value: String, _ allowed: String) {
            problems.append(ConfigurationProblem(keyPath: "\(source): \(path)", value: value, allowed: allowed))
        }
        var config = WebConfiguration()
        guard let root, root != .null, case .mapping(let top) = root else {
            if root == nil || root == .null { return config }  // an empty file: no TLS, no auth
            throw ConfigurationError(fileError: "\(source): the top level must be a mapping")
        }
        func resolve(_ file: String) -> String { file.hasPrefix("/") ? file : baseDirectory + "/" + file }
        func describe(_ node: Node) -> String {
            switch node {
            case .scalar(let s): "\"\(s)\""
            case .mapping: "a mapping"
            case .sequence: "a list"
            case .null: "empty"
            }
        }
        for pair in top {
            let (key, value) = (pair.key, pair.value)
            switch key {
            case "tls_server_config":
                guard case .mapping(let tlsMap) = value else { problem(key, describe(value), "a mapping"); continue }
                var cert: String?
                var keyFile: String?
                var tls = TLS(certFile: "", keyFile: "")
                for entry in tlsMap {
                    let (name, v) = (entry.key, entry.value)
                    let path = "tls_server_config.\(name)"
                    let string = v.string
                    switch name {
                    case "cert_file": cert = string.map(resolve)
                    case "key_file": keyFile = string.map(resolve)
                    case "client_ca_file": tls.clientCAFile = string.map(resolve)
                    case "client_auth_type":
                        if let s = string, let auth = ClientAuth(rawValue: s) {
                            tls.clientAuth = auth
                        } else if let s = string, s == "RequestClientCert" || s == "RequireAnyClientCert" {
                            problem(path, "\"\(s)\"", "one of \(ClientAuth.allCases.map(\.rawValue).joined(separator: ", ")) (a client certificate that is not verified is not supported)")
                        } else {
                            problem(path, describe(v), "one of " + ClientAuth.allCases.map(\.rawValue).joined(separator: ", "))
                        }
                    case "min_version", "max_version":
                        if let s = string, tlsVersions.contains(s) {
                            if name == "min_version" { tls.minVersion = s } else { tls.maxVersion = s }
                        } else {
                            problem(path, describe(v), "TLS12 or TLS13 (older versions are not offered)")
                        }
                    case "cert", "key", "client_ca", "cipher_suites", "curve_preferences", "prefer_server_cipher_suites", "client_allowed_sans":
                        problem(path, "set", "not set: this exporter does not support \(path) (use cert_file, key_file, client_ca_file)")
                    default:
                        problem(path, "set", "a key of tls_server_config (unknown key)")
                    }
                }
                if cert == nil { problem("tls_server_config.cert_file", "missing", "a certificate file (PEM)") }
                if keyFile == nil { problem("tls_server_config.key_file", "missing", "a private key file (PEM)") }
                if tls.clientAuth != .none && tls.clientCAFile == nil {
                    problem("tls_server_config.client_ca_file", "missing", "a CA file when client_auth_type verifies client certificates")
                }
                if let cert, let keyFile {
                    tls.certFile = cert
                    tls.keyFile = keyFile
                    config.tls = tls
                }
            case "http_server_config":
                guard case .mapping(let httpMap) = value else { problem(key, describe(value), "a mapping"); continue }
                for entry in httpMap {
                    let (name, v) = (entry.key, entry.value)
                    switch name {
                    case "http2":
                        if v.bool == true { problem("http_server_config.http2", "true", "false: this exporter serves HTTP/1.1 only") }
                    case "headers":
                        guard case .mapping(let headerMap) = v else { problem("http_server_config.headers", describe(v), "a mapping"); continue }
                        for headerEntry in headerMap {
                            let (header, hv) = (headerEntry.key, headerEntry.value)
                            guard let canonical = allowedHeaders.first(where: { $0.lowercased() == header.lowercased() }) else {
                                problem("http_server_config.headers.\(header)", "set", "one of " + allowedHeaders.joined(separator: ", "))
                                continue
                            }
                            guard let s = hv.string, ConfigurationLoader.isHeaderValue(s) else {
                                problem("http_server_config.headers.\(header)", "a value", "visible characters, spaces and tabs")
                                continue
                            }
                            config.headers[canonical] = s
                        }
                    default:
                        problem("http_server_config.\(name)", "set", "http2 or headers (unknown key)")
                    }
                }
            case "basic_auth_users":
                guard case .mapping(let users) = value else { problem(key, describe(value), "a mapping of user to bcrypt hash"); continue }
                for entry in users {
                    let (user, h) = (entry.key, entry.value)
                    // Hashes are not secrets in the toolkit's model, but they are never echoed either.
                    guard let hash = h.string, BasicAuthenticator.isBcrypt(hash) else {
                        problem("basic_auth_users.\(user)", "a value", "a bcrypt hash ($2a$, $2b$ or $2y$, as htpasswd -B makes)")
                        continue
                    }
                    guard !user.contains(":") else {
                        problem("basic_auth_users.\(user)", "a user name with ':'", "a user name without ':'")
                        continue
                    }
                    config.basicAuthUsers[user] = hash
                }
            case "rate_limit":
                problem(key, "set", "not set: this exporter does not support rate_limit (see server.* limits in its JSON configuration)")
            default:
                problem(key, "set", "tls_server_config, http_server_config or basic_auth_users (unknown key)")
            }
        }
        if !problems.isEmpty { throw ConfigurationError(problems: problems) }
        return config
    }
}
