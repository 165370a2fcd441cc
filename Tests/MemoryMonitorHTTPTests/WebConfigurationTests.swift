import CCrypt
import MemoryMonitor
import NIOCore
import NIOHTTP1
import TestSupport
import Testing
@testable import MemoryMonitorHTTP

@Suite("Web configuration (exporter-toolkit YAML)", .offCooperativePool)
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
        func decide(_ h: HTTPHeaders) -> BasicAuthenticator.Decision { auth.decide(h, client: "192.0.2.1", now: 0) }
        #expect(decide(HTTPHeaders()) == .denied)
        #expect(decide(HTTPHeaders([("Authorization", "Basic !!!")])) == .denied)
        #expect(decide(headers("alice", "test")) == .verify(user: "alice", password: "test"))
        #expect(auth.verifyNow(user: "alice", password: "test"))
        #expect(decide(headers("alice", "test")) == .allowed)
        #expect(!auth.verifyNow(user: "alice", password: "nope"))
        #expect(!auth.verifyNow(user: "nobody", password: "test"))
        #expect(decide(headers("alice", "nope")) == .verify(user: "alice", password: "nope"))
    }

    /// An unknown user is checked against a decoy of the users' cost: as slow as a wrong password
    /// (the issue's figures were 51 ms against 204 ms with users at cost 12 and a cost-10 decoy).
    @Test func theDecoyHasTheConfiguredCost() {
        let cost12 = "$2b$12$0Zu/EojrD6yLzsKzqQ8du.mbv02tBslsjHAsZGMKrbv6WMA149aCq"
        let cost04 = "$2b$04$0Zu/EojrD6yLzsKzqQ8du.mbv02tBslsjHAsZGMKrbv6WMA149aCq"
        #expect(BasicAuthenticator.cost(of: cost12) == 12)
        #expect(BasicAuthenticator(users: ["alice": cost12]).decoy.hasPrefix("$2b$12$"))
        #expect(BasicAuthenticator(users: ["a": cost04, "b": cost04, "c": cost12]).decoy.hasPrefix("$2b$04$"))
        // Equal counts: the higher cost (a wrong user is never faster than the slower real user).
        #expect(BasicAuthenticator(users: ["a": cost04, "c": cost12]).decoy.hasPrefix("$2b$12$"))
        #expect(BasicAuthenticator(users: [:]).decoy.hasPrefix("$2b$10$"))
        for cost in [4, 9, 10, 12, 14] {
            let decoy = BasicAuthenticator.decoy(cost: cost)
            #expect(BasicAuthenticator.isBcrypt(decoy), "\(decoy)")
            #expect(BasicAuthenticator.cost(of: decoy) == cost)
        }
        // crypt_r does the decoy's work: it yields a hash of the decoy's setting, which matches nothing.
        let decoy = BasicAuthenticator.decoy(cost: 4)
        var data = crypt_data()
        let computed = crypt_r("anything", decoy, &data).map { String(cString: $0) }
        #expect(computed?.hasPrefix(String(decoy.prefix(29))) == true)
        #expect(!BasicAuthenticator.matches(password: "anything", hash: decoy))
    }

    /// 1 s, 2 s, 4 s … after the fifth failure, up to a minute; a success or ten quiet minutes
    /// forget; other addresses are untouched; the table is bounded.
    @Test func failuresBackOffPerClient() {
        var t = AuthThrottle()
        for i in 1...4 {
            #expect(t.fail("10.0.0.1", now: Double(i)) == nil)
            #expect(t.blocked("10.0.0.1", now: Double(i)) == nil)
        }
        #expect(t.fail("10.0.0.1", now: 5) == .init(failures: 5, seconds: 1))
        #expect(t.blocked("10.0.0.1", now: 5) == 1)
        #expect(t.blocked("10.0.0.1", now: 6.01) == nil)
        #expect(t.blocked("10.0.0.2", now: 5) == nil)
        #expect(t.fail("10.0.0.1", now: 7) == .init(failures: 6, seconds: 2))
        #expect(t.fail("10.0.0.1", now: 8) == .init(failures: 7, seconds: 4))
        #expect(t.blocked("10.0.0.1", now: 9.5) == 3)
        for i in 0..<20 { _ = t.fail("10.0.0.1", now: 20 + Double(i)) }
        #expect(t.blocked("10.0.0.1", now: 39) == 60)
        t.succeed("10.0.0.1")
        #expect(t.blocked("10.0.0.1", now: 40) == nil)
        for i in 1...5 { _ = t.fail("10.0.0.3", now: Double(i)) }
        #expect(t.fail("10.0.0.3", now: 700) == nil, "ten quiet minutes forget the failures")
        var small = AuthThrottle()
        small.capacity = 3
        for i in 0..<10 { _ = small.fail("10.1.0.\(i)", now: Double(i)) }
        #expect(small.entries.count == 3)
        #expect(small.entries["10.1.0.9"] != nil)
        #expect(small.entries["10.1.0.0"] == nil)
    }

    @Test func clientsAreKeyedByAddressAndIPv6Prefix() throws {
        #expect(BasicAuthenticator.clientKey(try SocketAddress(ipAddress: "192.0.2.7", port: 1)) == "192.0.2.7")
        #expect(BasicAuthenticator.clientKey(try SocketAddress(ipAddress: "2001:db8:1:2:3:4:5:6", port: 1)) == "2001:db8:1:2::/64")
        #expect(BasicAuthenticator.clientKey(try SocketAddress(ipAddress: "2001:db8:1:2:ffff::1", port: 1)) == "2001:db8:1:2::/64")
        #expect(BasicAuthenticator.clientKey(try SocketAddress(ipAddress: "::ffff:192.0.2.9", port: 1)) == "192.0.2.9")
        #expect(BasicAuthenticator.clientKey(nil) == "unknown")
    }

    /// Verifications run one at a time on their own thread; past `maxPending` waiting, the answer
    /// is busy at once instead of another queued hash.
    @Test func verificationsAreBounded() async throws {
        let hash = "$2b$13$0Zu/EojrD6yLzsKzqQ8du.mbv02tBslsjHAsZGMKrbv6WMA149aCq"  // cost 13: about half a second
        let auth = BasicAuthenticator(users: ["alice": hash], maxPending: 2)
        let first = Task { await auth.verify(user: "alice", password: "a", client: "x") }
        let second = Task { await auth.verify(user: "alice", password: "b", client: "x") }
        // Both are admitted long before the first hash is done.
        for _ in 0..<200 where auth.pendingCount < 2 { try await Task.sleep(for: .milliseconds(5)) }
        #expect(auth.pendingCount == 2)
        #expect(await auth.verify(user: "alice", password: "c", client: "x") == .busy)
        #expect(await first.value == .denied)
        #expect(await second.value == .denied)
        let hash04 = "$2b$04$0Zu/EojrD6yLzsKzqQ8du.mbv02tBslsjHAsZGMKrbv6WMA149aCq"
        #expect(await BasicAuthenticator(users: ["alice": hash04], maxPending: 1).verify(user: "alice", password: "test", client: "x") == .allowed)
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
