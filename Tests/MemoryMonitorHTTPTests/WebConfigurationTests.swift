import MemoryMonitor
import NIOHTTP1
import Testing
@testable import MemoryMonitorHTTP

@Suite("Web configuration (exporter-toolkit YAML)")
struct WebConfigurationTests {
    @Test func theToolkitExampleParses() throws {
        let web = try WebConfiguration.parse(
            yaml: """
                tls_server_config:
                  cert_file: server.crt
                  key_file: /etc/tls/server.key
                  client_ca_file: ca.crt
                  client_auth_type: VerifyClientCertIfGiven
                  min_version: TLS13
                http_server_config:
                  http2: false
                  headers:
                    x-frame-options: deny
                basic_auth_users:
                  alice: $2y$10$QOauhQNbBCuQDKes6eFzPeMqBSjb7Mr5DUmpZ/VcEd00UAV/LDeSi
                """, source: "web.yml", baseDirectory: "/etc/mm")
        #expect(web.tls?.certFile == "/etc/mm/server.crt")
        #expect(web.tls?.keyFile == "/etc/tls/server.key")
        #expect(web.tls?.clientCAFile == "/etc/mm/ca.crt")
        #expect(web.tls?.clientAuth == .verifyIfGiven && web.tls?.minVersion == "TLS13")
        #expect(web.headers == ["X-Frame-Options": "deny"])
        #expect(web.basicAuthUsers.keys.sorted() == ["alice"])
        #expect(try WebConfiguration.parse(yaml: "", source: "empty.yml", baseDirectory: ".") == WebConfiguration())
    }

    @Test func unsupportedAndUnknownKeysAreErrors() {
        do {
            _ = try WebConfiguration.parse(
                yaml: """
                    tls_server_config: {cert_file: a, key_file: b, curve_preferences: [X25519], min_version: TLS10, client_auth_type: RequireAndVerifyClientCert}
                    http_server_config: {http2: true, headers: {Server: x}}
                    basic_auth_users: {bob: "not a hash"}
                    colour: blue
                    """, source: "w.yml", baseDirectory: ".")
            Issue.record("accepted")
        } catch {
            let text = error.problems.map(\.description)
            for expected in [
                "w.yml: tls_server_config.curve_preferences: set is not allowed", "w.yml: tls_server_config.min_version: \"TLS10\"",
                "w.yml: tls_server_config.client_ca_file: missing", "w.yml: http_server_config.http2: true", "w.yml: http_server_config.headers.Server",
                "w.yml: basic_auth_users.bob: a value is not allowed", "w.yml: colour: set is not allowed",
            ] {
                #expect(text.contains { $0.hasPrefix(expected) }, "\(expected) not in \(text)")
            }
            #expect(!text.joined().contains("not a hash"))
        }
    }

    @Test func bcryptVerifiesAndCaches() {
        let hash = "$2b$04$0Zu/EojrD6yLzsKzqQ8du.mbv02tBslsjHAsZGMKrbv6WMA149aCq"  // "test", made with Python's crypt
        #expect(BasicAuthenticator.matches(password: "test", hash: hash))
        #expect(!BasicAuthenticator.matches(password: "Test", hash: hash))
        let auth = BasicAuthenticator(users: ["alice": hash])
        func headers(_ user: String, _ password: String) -> HTTPHeaders {
            HTTPHeaders([("Authorization", "Basic " + Base64.encode(Array("\(user):\(password)".utf8)))])
        }
        #expect(auth.decide(HTTPHeaders()) == .denied)
        #expect(auth.decide(HTTPHeaders([("Authorization", "Basic !!!")])) == .denied)
        #expect(auth.decide(headers("alice", "test")) == .verify(user: "alice", password: "test"))
        #expect(auth.verify(user: "alice", password: "test"))
        #expect(auth.decide(headers("alice", "test")) == .allowed)
        #expect(!auth.verify(user: "alice", password: "nope"))
        #expect(!auth.verify(user: "nobody", password: "test"))
        #expect(auth.decide(headers("alice", "nope")) == .verify(user: "alice", password: "nope"))
    }

    @Test func base64RoundTrips() {
        for text in ["", "a", "ab", "abc", "alice:correct horse battery", "ü:ß"] {
            #expect(Base64.decode(Base64.encode(Array(text.utf8))) == Array(text.utf8))
        }
        #expect(Base64.decode("abc") == nil)
        #expect(Base64.decode("a=bc") == nil)
        #expect(Base64.decode("ab==cd==") == nil)
    }
}
