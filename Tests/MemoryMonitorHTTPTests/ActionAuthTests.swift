import MemoryMonitor
import NIOCore
import NIOHTTP1
import Testing
@testable import MemoryMonitorHTTP
import TestSupport

/// The token rule for mutating endpoints, with client addresses a loopback-only test cannot make.
@Suite("Mutating endpoints: who may call them", .offCooperativePool)
struct ActionAuthTests {
    func status(_ headers: [(String, String)], from ip: String, token: String?) throws -> UInt? {
        let remote = try SocketAddress(ipAddress: ip, port: 40000)
        return Router.authorize(headers: HTTPHeaders(headers), remote: remote, token: token).map { $0.status.code }
    }

    @Test func withoutATokenOnlyLoopbackMayCall() throws {
        #expect(try status([], from: "127.0.0.1", token: nil) == nil)
        #expect(try status([], from: "127.3.4.5", token: nil) == nil)
        #expect(try status([], from: "::1", token: nil) == nil)
        #expect(try status([], from: "10.0.0.7", token: nil) == 403)
        #expect(try status([], from: "192.168.1.1", token: nil) == 403)
        #expect(try status([], from: "fe80::1", token: nil) == 403)
        #expect(Router.authorize(headers: HTTPHeaders(), remote: nil, token: nil)?.status.code == 403)
    }

    @Test func withATokenEveryoneNeedsIt() throws {
        let token = "s3cret-token"
        #expect(try status([], from: "127.0.0.1", token: token) == 401)
        #expect(try status([("Authorization", "Basic abc")], from: "127.0.0.1", token: token) == 401)
        #expect(try status([("Authorization", "Bearer wrong")], from: "127.0.0.1", token: token) == 403)
        #expect(try status([("Authorization", "Bearer s3cret-token-longer")], from: "10.0.0.7", token: token) == 403)
        #expect(try status([("Authorization", "Bearer s3cret-token")], from: "10.0.0.7", token: token) == nil)
        #expect(try status([("Authorization", "bearer s3cret-token")], from: "::1", token: token) == nil)
        let refusal = Router.authorize(headers: HTTPHeaders(), remote: nil, token: token)
        #expect(refusal?.headers.first(name: "WWW-Authenticate") == "Bearer realm=\"memory-monitor\"")
        #expect(String(buffer: refusal?.body ?? ByteBuffer()).contains(token) == false)
    }

    @Test func comparisonIsExact() {
        #expect(Router.constantTimeEqual(Array("abc".utf8), Array("abc".utf8)))
        #expect(!Router.constantTimeEqual(Array("abc".utf8), Array("abd".utf8)))
        #expect(!Router.constantTimeEqual(Array("abc".utf8), Array("abcd".utf8)))
        #expect(!Router.constantTimeEqual([], Array("a".utf8)))
    }
}
