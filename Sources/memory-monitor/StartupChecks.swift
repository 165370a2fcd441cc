#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import MemoryMonitor

/// What the configuration names on this machine: the listen address resolves, the log file and
/// the state directory can be written. Run by `--check-config` and before any port is bound.
enum StartupChecks {
    static func problems(_ c: MonitorConfiguration) -> [String] {
        var problems: [String] = []
        if let reason = addressProblem(c.monitoring.listenAddress) {
            problems.append("monitoring.listen_address (--listen-address): \"\(c.monitoring.listenAddress)\" \(reason)")
        }
        if let file = c.logging.file, let reason = writableProblem(file, directory: false) {
            problems.append("logging.file (--log-file): \(file) \(reason)")
        }
        if let directory = c.alerting.stateDirectory, let reason = writableProblem(directory, directory: true) {
            problems.append("alerting.state_dir (--state-dir): \(directory) \(reason)")
        }
        return problems
    }

    /// Nil when `address` is an IP address or a name that resolves.
    static func addressProblem(_ address: String) -> String? {
        var v4 = in_addr()
        var v6 = in6_addr()
        if inet_pton(AF_INET, address, &v4) == 1 || inet_pton(AF_INET6, address, &v6) == 1 { return nil }
        var hints = addrinfo()
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        var result: UnsafeMutablePointer<addrinfo>?
        let rc = getaddrinfo(address, nil, &hints, &result)
        if let result { freeaddrinfo(result) }
        return rc == 0 ? nil : "is not an IP address and does not resolve (\(String(cString: gai_strerror(rc))))"
    }

    /// Nil when `path` can be written: it exists and is writable (a directory where one is
    /// expected), or the nearest existing parent is a writable directory it can be created in.
    static func writableProblem(_ path: String, directory: Bool) -> String? {
        var info = stat()
        if stat(path, &info) == 0 {
            let isDirectory = (info.st_mode & S_IFMT) == S_IFDIR
            if directory && !isDirectory { return "exists and is not a directory" }
            if !directory && isDirectory { return "is a directory" }
            if access(path, W_OK | (directory ? X_OK : 0)) != 0 { return "is not writable: \(String(cString: strerror(errno)))" }
            return nil
        }
        var parent = path
        while true {
            guard let slash = parent.lastIndex(of: "/") else { parent = "."; break }
            parent = slash == parent.startIndex ? "/" : String(parent[..<slash])
            if stat(parent, &info) == 0 { break }
            if parent == "/" { break }
        }
        guard stat(parent, &info) == 0, (info.st_mode & S_IFMT) == S_IFDIR else { return "cannot be created: \(parent) is not a directory" }
        if access(parent, W_OK | X_OK) != 0 { return "cannot be created: \(parent) is not writable (\(String(cString: strerror(errno))))" }
        return nil
    }
}
