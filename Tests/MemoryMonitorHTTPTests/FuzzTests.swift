#if canImport(Glibc)
import Glibc
#endif
import Logging
import MemoryMonitor
import TestSupport
import Testing
@testable import MemoryMonitorHTTP

/// A seeded fuzzer against the real server: 10 000 mutated and random requests, in batches of
/// 500, beside 80 silent connections per batch on a server with 64 slots; after each batch
/// /health still answers, and no request gets a 5xx. Then 2 000 Host and Origin combinations
/// against the mutating endpoint, each with the answer the rebinding rules give.
@Suite("HTTP fuzzing", .serialized, .offCooperativePool)
struct FuzzTests {
    // TestSupport's SeededGenerator: a fixed seed gives the same 10 000 requests on every run.

    static let corpus = [
        "GET /metrics HTTP/1.1\r\nHost: x\r\nAccept: application/openmetrics-text;version=1.0.0\r\nAccept-Encoding: gzip\r\n\r\n",
        "GET /health HTTP/1.1\r\nHost: x\r\n\r\n",
        "GET /health/memory HTTP/1.1\r\nHost: x\r\nConnection: keep-alive\r\n\r\n",
        "GET /health/alerts?hours=24 HTTP/1.1\r\nHost: x\r\n\r\n",
        "GET /health/metrics/history?hours=1&step=60 HTTP/1.1\r\nHost: x\r\n\r\n",
        "GET /health/actions?hours=2 HTTP/1.1\r\nHost: x\r\n\r\n",
        "POST /health/actions/gc HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc",
        "POST /health/actions/gc HTTP/1.1\r\nHost: evil.example:9100\r\nOrigin: http://evil.example:9100\r\n\r\n",
        "POST /health/actions/gc HTTP/1.1\r\nHost: localhost:9100\r\nOrigin: http://localhost:9100\r\n\r\n",
        "POST /health/actions/gc HTTP/1.1\r\nHost: [::1]:9100\r\n\r\n",
        "HEAD /metrics HTTP/1.0\r\n\r\n",
        "GET http://x/health?hours=1 HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
    ].map { Array($0.utf8) }

    static let interesting: [[UInt8]] = [
        "\r\n", "\r", "\n", "\0", ":", " ", "%", "%00", "?", "&", "=", "hours=", "step=", "-1", "1e309", "NaN", "\u{FF}", "ü",
        "Content-Length: 99999999999999999999\r\n", "Transfer-Encoding: chunked\r\n", "Host: \r\n", "Origin: http://evil\r\n", "Host: evil.example\r\n", "Host: localhost.\r\n",
        "Host: [::1\r\n", "Origin: null\r\n", "Host: 127.0.0.1.evil.example\r\n", ":9100", "[", "]", "@",
        "Authorization: Bearer x\r\n", "Expect: 100-continue\r\n", "HTTP/9.9", "GET", "OPTIONS", "../../", "//",
    ].map { Array($0.utf8) }

    static func mutate(_ input: [UInt8], _ g: inout SeededGenerator) -> [UInt8] {
        var bytes = input
        for _ in 0..<Int.random(in: 1...4, using: &g) {
            switch Int.random(in: 0..<7, using: &g) {
            case 0 where !bytes.isEmpty: bytes[Int.random(in: 0..<bytes.count, using: &g)] = UInt8.random(in: 0...255, using: &g)
            case 1: bytes.insert(contentsOf: interesting.randomElement(using: &g)!, at: Int.random(in: 0...bytes.count, using: &g))
            case 2 where bytes.count > 1:
                let start = Int.random(in: 0..<bytes.count, using: &g)
                bytes.removeSubrange(start..<min(bytes.count, start + Int.random(in: 1...16, using: &g)))
            case 3 where !bytes.isEmpty:
                let start = Int.random(in: 0..<bytes.count, using: &g)
                let slice = bytes[start..<min(bytes.count, start + Int.random(in: 1...32, using: &g))]
                bytes.insert(contentsOf: Array(slice), at: Int.random(in: 0...bytes.count, using: &g))
            case 4: bytes.insert(contentsOf: [UInt8](repeating: UInt8(ascii: "A"), count: Int.random(in: 100...30_000, using: &g)), at: Int.random(in: 0...bytes.count, using: &g))
            case 5: bytes = Array(bytes.prefix(Int.random(in: 0...bytes.count, using: &g)))
            default: bytes += interesting.randomElement(using: &g)!
            }
        }
        return bytes
    }

    /// Sends `bytes`, half-closes, and returns every status line the server answered with.
    func statuses(port: Int, _ bytes: [UInt8]) -> [Int] {
        let fd = RawHTTP.connectSocket(port: port, timeoutSeconds: 5)
        guard fd >= 0 else { return [-1] }
        defer { close(fd) }
        var offset = 0
        while offset < bytes.count {
            let n = bytes[offset...].withUnsafeBytes { send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            if n <= 0 { break }
            offset += n
        }
        shutdown(fd, Int32(SHUT_WR))
        var received: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 65536)
        while received.count < 4 << 20 {
            let n = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if n <= 0 { break }
            received += buffer[..<n]
        }
        return RawHTTP.parse(received).map(\.status)
    }

    @Test func tenThousandRequestsNo5xxAndTheServerServesOn() async throws {
        let (monitor, server) = try await serveOnce(maxConnections: 64)
        let port = server.boundPorts[0]
        var generator = SeededGenerator(state: 20_261_127)
        var answered = 0
        var byStatus: [Int: Int] = [:]
        for batch in 0..<20 {
            // Silent clients, more than the slots: the fuzz requests must still be answered.
            let silent = (0..<80).map { _ in RawHTTP.connectSocket(port: port, timeoutSeconds: 5) }
            defer { for fd in silent where fd >= 0 { close(fd) } }
            for _ in 0..<500 {
                let request: [UInt8]
                if Int.random(in: 0..<10, using: &generator) == 0 {
                    request = (0..<Int.random(in: 0...512, using: &generator)).map { _ in UInt8.random(in: 0...255, using: &generator) }
                } else {
                    request = Self.mutate(Self.corpus.randomElement(using: &generator)!, &generator)
                }
                for status in statuses(port: port, request) {
                    answered += 1
                    byStatus[status, default: 0] += 1
                    #expect(status < 500, "batch \(batch): \(status) for \(String(decoding: request.prefix(200), as: UTF8.self).debugDescription)")
                }
            }
            #expect(statuses(port: port, Array("GET /health HTTP/1.1\r\nHost: x\r\n\r\n".utf8)) == [200], "the server stopped serving after batch \(batch)")
        }
        let evicted = monitor.metrics.httpRejected.value("idle_evicted") ?? 0
        print("fuzz: 10000 requests beside 1600 silent connections, \(answered) responses, by status \(byStatus.sorted { $0.key < $1.key }); \(Int(evicted)) connections evicted")
        #expect(answered > 5000)
        #expect(evicted >= 20 * (80 - 64))
        await server.close()
    }

    static let allowedHosts = ["localhost", "LocalHost", "localhost.", "app.localhost", "127.0.0.1", "127.3.2.1", "[::1]", "monitor.example.com"]
    static let refusedHosts = [
        "evil.example", "127.0.0.1.evil.example", "localhost.evil.example", "evil.example.localhost.com", "evil.example#127.0.0.1", "[::1]x",
        "localhost:80:80", "127.0.0.1:abc", "", "monitor.example.com.evil", "xn--lcalhost-9za",
    ]

    /// Host and Origin combinations on `POST /health/actions/gc` from loopback: 200 exactly when
    /// Host is allowed and Origin is absent or names that Host; 403 otherwise, and every refused
    /// Host counted.
    @Test func hostAndOriginCombinationsFollowTheRebindingRules() async throws {
        var config = MonitorConfiguration()
        config.server.allowedHosts = ["monitor.example.com"]
        let monitor = MemoryMonitor(configuration: config)
        monitor.check()
        let cache = ExpositionCache(monitor: monitor, maxAge: .seconds(60))
        let server = try await HTTPServer.bind(
            host: "127.0.0.1", listeners: [.init(role: "fuzz", port: 0, routes: [.health, .metrics])], monitor: monitor, cache: cache,
            logger: Logger(label: "fuzz"))
        let port = server.boundPorts[0]
        var g = SeededGenerator(state: 20_261_206)
        var refusedHostRequests = 0
        var outcomes: [String: Int] = [:]
        for _ in 0..<2000 {
            let allowed = Bool.random(using: &g)
            let name = allowed ? Self.allowedHosts.randomElement(using: &g)! : Self.refusedHosts.randomElement(using: &g)!
            let withPort = !name.isEmpty && !name.contains(":") && !name.hasSuffix("x") && Bool.random(using: &g)
            let host = name + (withPort ? ":\(port)" : "")
            let origin: String?
            switch Int.random(in: 0..<5, using: &g) {
            case 0: origin = nil
            case 1: origin = "http://" + host
            case 2: origin = "https://" + host.uppercased()
            case 3: origin = "http://evil.example:\(port)"
            default: origin = "null"
            }
            var text = "POST /health/actions/gc HTTP/1.1\r\nHost: \(host)\r\nConnection: close\r\nContent-Length: 0\r\n"
            if let origin { text += "Origin: \(origin)\r\n" }
            let status = RawHTTP.parse((try? RawHTTP.exchange(port: port, request: Array((text + "\r\n").utf8))) ?? []).first?.status
            let originMatches = origin == nil || origin!.lowercased().hasSuffix("://" + host.lowercased())
            let expected = allowed && originMatches ? 200 : (host.isEmpty || name == "localhost:80:80" || name == "127.0.0.1:abc" ? nil : 403)
            if !allowed { refusedHostRequests += 1 }
            if let expected {
                #expect(status == expected, "Host \(host.debugDescription), Origin \(origin ?? "none"): \(status.map(String.init) ?? "no answer")")
            } else {
                // A malformed Host: refused either way (403, or 400 from the parser); never done.
                #expect(status != nil && status != 200, "Host \(host.debugDescription): \(status.map(String.init) ?? "no answer")")
            }
            outcomes["\(allowed ? "allowed" : "refused") host → \(status.map(String.init) ?? "none")", default: 0] += 1
        }
        let counted = Int(monitor.metrics.httpRejected.value("host_not_allowed") ?? 0)
        print("host/origin fuzz: 2000 requests: \(outcomes.sorted { $0.key < $1.key }); host_not_allowed \(counted)")
        #expect(counted <= refusedHostRequests && counted >= refusedHostRequests - outcomes.filter { $0.key.hasPrefix("refused host → 400") }.values.reduce(0, +))
        await server.close()
    }
}
