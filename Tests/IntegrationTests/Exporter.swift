import Foundation
import TestSupport
import Testing

/// The built memory-monitor binary, started for one test and stopped by its PID.
final class Exporter: @unchecked Sendable {
    let child: ChildProcess
    let healthPort: Int
    let metricsPort: Int

    /// Starts the exporter on ephemeral ports (both 0) and reads the bound ports from its log.
    /// With `wrapper` (setpriv, prlimit), the binary runs under it; they exec, so the pid is the exporter's.
    init(_ extra: [String] = [], config: String? = nil, environment: [String: String]? = nil, wrapper: [String] = []) throws {
        var arguments = ["--health-port", "0", "--prometheus-port", "0", "--listen-address", "127.0.0.1"] + extra
        if let config {
            let path = NSTemporaryDirectory() + "mm-config-\(UUID().uuidString).json"
            try config.write(toFile: path, atomically: true, encoding: .utf8)
            try FileManager.default.setAttributes([.posixPermissions: 0o644], ofItemAtPath: path)
            arguments += ["--config", path]
        }
        let child: ChildProcess
        if let executable = wrapper.first {
            child = try ChildProcess(executable, Array(wrapper.dropFirst()) + [try Unprivileged.binary()] + arguments, environment: environment)
        } else {
            child = try ChildProcess(TestEnvironment.binary, arguments, environment: environment)
        }
        self.child = child
        var ports: [String: Int] = [:]
        _ = child.wait(seconds: 20) {
            ports = Exporter.ports(in: child.stderr)
            return ports.count == 2
        }
        guard let health = ports["health"], let metrics = ports["metrics"] else {
            child.stop()
            throw RawHTTPError(description: "exporter did not start; stderr:\n\(child.stderr)")
        }
        healthPort = health
        metricsPort = metrics
    }

    /// `listening address=127.0.0.1:PORT role=ROLE` lines.
    static func ports(in log: String) -> [String: Int] {
        var ports: [String: Int] = [:]
        for line in log.split(separator: "\n") where line.hasPrefix("{") && line.contains("\"msg\":\"listening\"") {
            guard let object = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any],
                let address = object["address"] as? String, let role = object["role"] as? String,
                let port = address.split(separator: ":").last.flatMap({ Int($0) })
            else { continue }
            ports[role] = port
        }
        for line in log.split(separator: "\n") where line.contains(" listening ") {
            let fields = line.split(separator: " ")
            guard let address = fields.first(where: { $0.hasPrefix("address=") }), let role = fields.first(where: { $0.hasPrefix("role=") }),
                let port = address.split(separator: ":").last.flatMap({ Int($0) })
            else { continue }
            ports[String(role.dropFirst(5))] = port
        }
        return ports
    }

    func metrics(accept: String? = nil, gzip: Bool = false) throws -> HTTPResult {
        var headers: [(String, String)] = []
        if let accept { headers.append(("Accept", accept)) }
        if gzip { headers.append(("Accept-Encoding", "gzip")) }
        return try RawHTTP.request(port: metricsPort, path: "/metrics", headers: headers)
    }

    @discardableResult
    func stop() -> Int32 { child.stop() }

    /// GET a health path as parsed JSON.
    func health(_ path: String) throws -> [String: Any] {
        let body = try RawHTTP.request(port: healthPort, path: path).body
        return (try JSONSerialization.jsonObject(with: Data(body)) as? [String: Any]) ?? [:]
    }

    deinit { child.stop() }
}

/// Runs Python (the venv with prometheus-client) on a script with `input` on stdin.
func python(_ script: String, input: [UInt8]) throws -> (status: Int32, stdout: String, stderr: String) {
    let path = TestEnvironment.python
    #expect(FileManager.default.isExecutableFile(atPath: path), "no \(path): run scripts/install-test-deps.sh")
    return try TestEnvironment.run(path, ["-c", script], input: input)
}

/// Running the binary as it ships: as the Dockerfile's unprivileged user.
enum Unprivileged {
    /// The uid and gid of the Dockerfile's `USER` (a test checks they agree).
    static let uid = 10001

    /// `setpriv` to the unprivileged user, with no supplementary groups.
    static var setpriv: [String] { ["/usr/bin/setpriv", "--reuid=\(uid)", "--regid=\(uid)", "--clear-groups"] }

    /// A copy of the built binary in a world-readable directory: the build folder may sit under a
    /// directory the unprivileged user cannot enter.
    static func binary() throws -> String {
        let directory = "/tmp/mm-unprivileged-bin"
        let path = directory + "/memory-monitor"
        let source = TestEnvironment.binary
        let fm = FileManager.default
        let sourceDate = (try? fm.attributesOfItem(atPath: source)[.modificationDate] as? Date) ?? Date()
        if let copied = try? fm.attributesOfItem(atPath: path)[.modificationDate] as? Date, copied >= sourceDate { return path }
        try fm.createDirectory(atPath: directory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o755])
        try? fm.removeItem(atPath: path)
        try fm.copyItem(atPath: source, toPath: path)
        try fm.setAttributes([.posixPermissions: 0o755], ofItemAtPath: path)
        return path
    }
}
