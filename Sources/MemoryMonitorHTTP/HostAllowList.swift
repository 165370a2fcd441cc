#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import MemoryMonitor
import Synchronization

/// The `Host` values a mutating request may carry: a defence against DNS rebinding, where a page
/// on evil.example rebinds its name to 127.0.0.1 and POSTs with `Host: evil.example` (its
/// `Origin` then matches its `Host`, so the Origin check alone lets it through).
///
/// Allowed: loopback names (`localhost`, `*.localhost`, RFC 6761) and addresses, this host's
/// own name and the addresses of its interfaces (re-read, at most once a second, when a request
/// names an address not seen yet: a container's address is set after start), and the names in
/// `server.allowed_hosts`. A request without `Host` (HTTP/1.0) is not a browser's and passes.
final class HostAllowList: Sendable {
    private let configured: Set<String>
    private let ownNames: Set<String>
    private let addresses: Mutex<(set: Set<String>, readAt: Double)>

    init(allowedHosts: [String]) {
        configured = Set(allowedHosts.map { $0.lowercased() })
        let name = AlertChannels.hostName().lowercased()
        ownNames = Set([name] + name.split(separator: ".").prefix(1).map(String.init))
        addresses = Mutex((Self.interfaceAddresses(), ContinuousClock.now.secondsSinceReference))
    }

    /// Whether a request with this `Host` header value may run a mutating endpoint.
    func allows(hostHeader: String?) -> Bool {
        guard let hostHeader else { return true }
        guard let host = Self.hostPart(hostHeader) else { return false }
        if Self.isLoopbackName(host) || Self.isLoopbackAddress(host) || configured.contains(host) || ownNames.contains(host) { return true }
        let now = ContinuousClock.now.secondsSinceReference
        return addresses.withLock { known in
            if known.set.contains(host) { return true }
            guard now - known.readAt >= 1 else { return false }
            known = (Self.interfaceAddresses(), now)
            return known.set.contains(host)
        }
    }

    /// The host of a `Host` value, lowercased, without port or IPv6 brackets; nil when malformed.
    static func hostPart(_ value: String) -> String? {
        let v = value.lowercased()
        if v.hasPrefix("[") {
            guard let close = v.firstIndex(of: "]") else { return nil }
            let rest = v[v.index(after: close)...]
            guard rest.isEmpty || (rest.hasPrefix(":") && rest.dropFirst().allSatisfy(\.isNumber)) else { return nil }
            return String(v[v.index(after: v.startIndex)..<close])
        }
        let parts = v.split(separator: ":", omittingEmptySubsequences: false)
        guard parts.count <= 2, let name = parts.first, !name.isEmpty else { return nil }
        if parts.count == 2 && (parts[1].isEmpty || !parts[1].allSatisfy(\.isNumber)) { return nil }
        // A trailing dot names the same host (`localhost.`).
        return String(name.hasSuffix(".") ? name.dropLast() : name)
    }

    static func isLoopbackName(_ host: String) -> Bool {
        host == "localhost" || host.hasSuffix(".localhost") || host == "ip6-localhost" || host == "ip6-loopback" || host == "localhost.localdomain"
    }

    static func isLoopbackAddress(_ host: String) -> Bool {
        var v4 = in_addr()
        if inet_pton(AF_INET, host, &v4) == 1 { return UInt32(bigEndian: v4.s_addr) >> 24 == 127 }
        var v6 = in6_addr()
        guard inet_pton(AF_INET6, host, &v6) == 1 else { return false }
        // ::1, or an IPv4-mapped 127.x (::ffff:127.0.0.1), compared as bytes: every spelling of them.
        let bytes = withUnsafeBytes(of: v6) { Array($0) }
        if bytes[0..<15].allSatisfy({ $0 == 0 }) && bytes[15] == 1 { return true }
        return bytes[0..<10].allSatisfy({ $0 == 0 }) && bytes[10] == 0xFF && bytes[11] == 0xFF && bytes[12] == 127
    }

    /// The addresses of this host's interfaces, as text (`10.0.0.5`, `fe80::1`, zone dropped).
    static func interfaceAddresses() -> Set<String> {
        var list: UnsafeMutablePointer<ifaddrs>?
        guard getifaddrs(&list) == 0, let first = list else { return [] }
        defer { freeifaddrs(list) }
        var result: Set<String> = []
        var node: UnsafeMutablePointer<ifaddrs>? = first
        while let current = node {
            defer { node = current.pointee.ifa_next }
            guard let address = current.pointee.ifa_addr else { continue }
            var text = [CChar](repeating: 0, count: Int(INET6_ADDRSTRLEN) + 1)
            switch Int32(address.pointee.sa_family) {
            case AF_INET:
                address.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { sin in
                    var a = sin.pointee.sin_addr
                    _ = inet_ntop(AF_INET, &a, &text, socklen_t(text.count))
                }
            case AF_INET6:
                address.withMemoryRebound(to: sockaddr_in6.self, capacity: 1) { sin6 in
                    var a = sin6.pointee.sin6_addr
                    _ = inet_ntop(AF_INET6, &a, &text, socklen_t(text.count))
                }
            default: continue
            }
            let string = String(decoding: text.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
            if !string.isEmpty { result.insert(string.lowercased()) }
        }
        return result
    }
}
