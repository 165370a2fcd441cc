#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import MemoryMonitor

/// `--health-probe`: GET /health on the configured health port of this host, for a container
/// HEALTHCHECK in exec form (no shell, no curl in the image). 0 when the monitor answers 200
/// (or 401: alive behind basic auth), 1 otherwise (503 means the check loop stalled).
enum HealthProbe {
    /// The running monitor a bare `--health-probe` is for: the lowest-pid other process running
    /// this binary whose executable link this user may read (a container's HEALTHCHECK is exec'd
    /// beside it, in its pid namespace, as the same user), with
    /// the arguments, environment and working directory it was started with. So the probe reads
    /// the port from the same sources as the server: its flags, its `--config` file, its
    /// environment.
    struct Server {
        var pid: Int32
        var arguments: [String]
        var environment: [String: String]
        var workingDirectory: String?
    }

    static func findServer() -> Server? {
        let me = getpid()
        let ownExe = readLink("/proc/self/exe")
        guard case .success(let entries) = ProcFile.directoryEntries("/proc") else { return nil }
        for pid in entries.compactMap({ Int32($0) }).filter({ $0 != me }).sorted() {
            // Unreadable for another user's processes: a probe answers only for a monitor it could
            // signal itself, never for a process that merely calls itself memory-monitor.
            guard let ownExe, let exe = readLink("/proc/\(pid)/exe"), exe == ownExe || exe == ownExe + " (deleted)" else { continue }
            guard let cmdline = ProcFile.read("/proc/\(pid)/cmdline") else { continue }
            // NUL-terminated arguments: the last split is the empty rest after the final NUL.
            var arguments = cmdline.split(separator: "\0", omittingEmptySubsequences: false).dropFirst().map(String.init)
            if arguments.last == "" { arguments.removeLast() }
            // Another probe, or a one-shot check, is not the server.
            if arguments.contains("--health-probe") || arguments.contains("--check-config") || arguments.contains("--help") { continue }
            var environment: [String: String] = [:]
            for item in (ProcFile.read("/proc/\(pid)/environ") ?? "").split(separator: "\0") {
                let text = String(item)
                if let eq = text.firstIndex(of: "=") { environment[String(text[..<eq])] = String(text[text.index(after: eq)...]) }
            }
            return Server(pid: pid, arguments: arguments, environment: environment, workingDirectory: readLink("/proc/\(pid)/cwd"))
        }
        return nil
    }

    private static func readLink(_ path: String) -> String? {
        var buffer = [CChar](repeating: 0, count: 4096)
        let n = readlink(path, &buffer, buffer.count - 1)
        guard n > 0 else { return nil }
        return String(decoding: buffer[..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

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
