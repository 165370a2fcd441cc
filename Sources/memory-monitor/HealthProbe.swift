#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// `--health-probe`: GET /health on the configured health port of this host, for a container
/// HEALTHCHECK in exec form (no shell, no curl in the image). 0 when the monitor answers 200
/// (or 401: alive behind basic auth), 1 otherwise (503 means the check loop stalled).
enum HealthProbe {
    static func run(port: Int, address: String) -> Int32 {
        let host = address == "0.0.0.0" || address == "::" ? "127.0.0.1" : address
        var hints = addrinfo()
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        var result: UnsafeMutablePointer<addrinfo>?
        guard getaddrinfo(host, String(port), &hints, &result) == 0, let info = result else {
            print("health probe: cannot resolve \(host)")
            return 1
        }
        defer { freeaddrinfo(result) }
        let fd = socket(info.pointee.ai_family, info.pointee.ai_socktype, info.pointee.ai_protocol)
        guard fd >= 0 else { return 1 }
        defer { close(fd) }
        var timeout = timeval(tv_sec: 3, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        guard connect(fd, info.pointee.ai_addr, info.pointee.ai_addrlen) == 0 else {
            print("health probe: nothing listens on \(host):\(port)")
            return 1
        }
        let request = Array("GET /health HTTP/1.1\r\nHost: \(host):\(port)\r\nConnection: close\r\n\r\n".utf8)
        guard request.withUnsafeBytes({ send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }) == request.count else { return 1 }
        var buffer = [UInt8](repeating: 0, count: 512)
        let n = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
        guard n > 12 else {
            // A TLS listener answers a plain request with nothing usable: it is alive.
            print("health probe: no HTTP answer from \(host):\(port)")
            return 1
        }
        let line = String(decoding: buffer[..<n].prefix { $0 != UInt8(ascii: "\r") }, as: UTF8.self)
        let status = line.split(separator: " ").dropFirst().first.flatMap { Int($0) } ?? 0
        print("health probe: \(line)")
        return status == 200 || status == 401 ? 0 : 1
    }
}
