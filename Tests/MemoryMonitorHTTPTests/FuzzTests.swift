#if canImport(Glibc)
import Glibc
#endif
import Logging
import MemoryMonitor
import TestSupport
import Testing
@testable import MemoryMonitorHTTP

/// A seeded fuzzer against the real server: 10 000 mutated and random requests, in batches of
/// 500; after each batch /health still answers, and no request gets a 5xx.
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
        "HEAD /metrics HTTP/1.0\r\n\r\n",
        "GET http://x/health?hours=1 HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
    ].map { Array($0.utf8) }

    static let interesting: [[UInt8]] = [
        "\r\n", "\r", "\n", "\0", ":", " ", "%", "%00", "?", "&", "=", "hours=", "step=", "-1", "1e309", "NaN", "\u{FF}", "ü",
        "Content-Length: 99999999999999999999\r\n", "Transfer-Encoding: chunked\r\n", "Host: \r\n", "Origin: http://evil\r\n",
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
        let monitor = MemoryMonitor(configuration: MonitorConfiguration())
        monitor.check()
        let cache = ExpositionCache(monitor: monitor, maxAge: .seconds(60))
        let server = try await HTTPServer.bind(
            host: "127.0.0.1", listeners: [.init(role: "fuzz", port: 0, routes: [.health, .metrics])], monitor: monitor, cache: cache,
            logger: Logger(label: "fuzz"))
        let port = server.boundPorts[0]
        var generator = SeededGenerator(state: 20_261_127)
        var answered = 0
        var byStatus: [Int: Int] = [:]
        for batch in 0..<20 {
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
        print("fuzz: 10000 requests, \(answered) responses, by status \(byStatus.sorted { $0.key < $1.key })")
        #expect(answered > 5000)
        await server.close()
    }
}
