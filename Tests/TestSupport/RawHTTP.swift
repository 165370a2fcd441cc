import Foundation

/// A response as read off the wire.
public struct HTTPResult: Sendable {
    public var status: Int
    /// Header names lower-cased; a repeated header keeps its last value.
    public var headers: [String: String]
    public var body: [UInt8]
    public var bodyText: String { String(decoding: body, as: UTF8.self) }
}

public struct RawHTTPError: Error, CustomStringConvertible {
    public var description: String
    public init(description: String) { self.description = description }
}

/// A deliberately small HTTP/1.1 client over a plain socket to 127.0.0.1, so tests can send
/// exactly the bytes they mean (malformed requests included) and see exactly what comes back.
public enum RawHTTP {
    /// A socket connected to 127.0.0.1:`port` with a receive timeout, or -1 (the caller closes it).
    /// `source` (another loopback address, such as 127.0.0.2) is the address it connects from.
    public static func connectSocket(port: Int, timeoutSeconds: Int = 10, source: String? = nil) -> Int32 {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { return -1 }
        var timeout = timeval(tv_sec: timeoutSeconds, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        if let source {
            var local = sockaddr_in()
            local.sin_family = sa_family_t(AF_INET)
            local.sin_addr.s_addr = inet_addr(source)
            let bound = withUnsafePointer(to: &local) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
            }
            guard bound == 0 else {
                close(fd)
                return -1
            }
        }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard connected == 0 else {
            close(fd)
            return -1
        }
        return fd
    }

    /// Sends `request` as is and reads until the server closes (or 10 s pass).
    public static func exchange(port: Int, request: [UInt8], source: String? = nil) throws -> [UInt8] {
        let fd = connectSocket(port: port, source: source)
        guard fd >= 0 else { throw RawHTTPError(description: "connect to 127.0.0.1:\(port) failed: errno \(errno)") }
        defer { close(fd) }
        var sent = 0
        while sent < request.count {
            let n = request[sent...].withUnsafeBytes { send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            guard n > 0 else { throw RawHTTPError(description: "send failed") }
            sent += n
        }
        var received: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 65536)
        while true {
            let n = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if n <= 0 { break }
            received += buffer[..<n]
        }
        return received
    }

    /// One request with `Connection: close`, parsed.
    public static func request(
        port: Int, method: String = "GET", path: String, headers: [(String, String)] = [], body: String = "", source: String? = nil
    ) throws -> HTTPResult {
        var text = "\(method) \(path) HTTP/1.1\r\nHost: 127.0.0.1:\(port)\r\nConnection: close\r\n"
        for (name, value) in headers { text += "\(name): \(value)\r\n" }
        if !body.isEmpty { text += "Content-Length: \(body.utf8.count)\r\n" }
        text += "\r\n" + body
        guard let result = parse(try exchange(port: port, request: Array(text.utf8), source: source)).first else {
            throw RawHTTPError(description: "no response to \(method) \(path)")
        }
        return result
    }

    /// Splits a byte stream into responses (several when requests were pipelined).
    public static func parse(_ bytes: [UInt8], headRequests: Int = 0) -> [HTTPResult] {
        var results: [HTTPResult] = []
        var rest = bytes[...]
        let separator: [UInt8] = Array("\r\n\r\n".utf8)
        while let end = find(separator, in: rest) {
            let head = String(decoding: rest[rest.startIndex..<end], as: UTF8.self)
            var lines = head.components(separatedBy: "\r\n")
            let statusLine = lines.removeFirst().split(separator: " ")
            guard statusLine.count >= 2, let status = Int(statusLine[1]) else { break }
            var headers: [String: String] = [:]
            for line in lines {
                guard let colon = line.firstIndex(of: ":") else { continue }
                headers[line[..<colon].lowercased()] = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
            }
            let bodyStart = end + separator.count
            let isHead = results.count < headRequests
            if !isHead, headers["transfer-encoding"]?.lowercased() == "chunked" {
                // Go servers (Alertmanager, Prometheus) chunk bodies past a few KiB.
                let (body, next) = dechunk(rest[bodyStart...])
                results.append(HTTPResult(status: status, headers: headers, body: body))
                rest = rest[next...]
                continue
            }
            let length = isHead ? 0 : (headers["content-length"].flatMap { Int($0) } ?? (rest.endIndex - bodyStart))
            let bodyEnd = min(bodyStart + length, rest.endIndex)
            results.append(HTTPResult(status: status, headers: headers, body: Array(rest[bodyStart..<bodyEnd])))
            rest = rest[bodyEnd...]
        }
        return results
    }

    /// A chunked body and the index after it.
    private static func dechunk(_ bytes: ArraySlice<UInt8>) -> ([UInt8], Int) {
        var body: [UInt8] = []
        var index = bytes.startIndex
        let crlf: [UInt8] = Array("\r\n".utf8)
        while let lineEnd = find(crlf, in: bytes[index...]) {
            let sizeText = String(decoding: bytes[index..<lineEnd], as: UTF8.self).split(separator: ";").first ?? ""
            guard let size = Int(sizeText.trimmingCharacters(in: .whitespaces), radix: 16) else { break }
            let dataStart = lineEnd + 2
            if size == 0 {
                index = min(bytes.endIndex, dataStart + 2)
                break
            }
            let dataEnd = min(bytes.endIndex, dataStart + size)
            body += bytes[dataStart..<dataEnd]
            index = min(bytes.endIndex, dataEnd + 2)
        }
        return (body, index)
    }

    private static func find(_ needle: [UInt8], in haystack: ArraySlice<UInt8>) -> Int? {
        guard haystack.count >= needle.count else { return nil }
        var i = haystack.startIndex
        while i <= haystack.endIndex - needle.count {
            if haystack[i..<(i + needle.count)].elementsEqual(needle) { return i }
            i += 1
        }
        return nil
    }
}
