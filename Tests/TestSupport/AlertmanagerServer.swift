import Foundation

/// A real Alertmanager (Debian's `prometheus-alertmanager`) on 127.0.0.1, clustering off.
public final class AlertmanagerServer: @unchecked Sendable {
    public let child: ChildProcess
    public let port: Int
    let directory: String

    /// Starts it with the configuration file at `configPath` (templates resolve beside it).
    public init(configPath: String) throws {
        directory = NSTemporaryDirectory() + "mm-am-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        port = TestEnvironment.freePort()
        child = try ChildProcess(
            "/usr/bin/prometheus-alertmanager",
            [
                "--config.file=\(configPath)", "--storage.path=\(directory)", "--web.listen-address=127.0.0.1:\(port)",
                "--cluster.listen-address=", "--log.level=warn",
            ])
        guard child.wait(seconds: 30, for: { (try? RawHTTP.request(port: self.port, path: "/-/ready").status) == 200 }) else {
            child.stop()
            throw RawHTTPError(description: "alertmanager did not become ready: \(child.stderr)")
        }
    }

    /// The alerts it holds (`GET /api/v2/alerts`), as JSON objects.
    public func alerts() throws -> [[String: Any]] {
        let response = try RawHTTP.request(port: port, path: "/api/v2/alerts")
        return (try JSONSerialization.jsonObject(with: Data(response.body)) as? [[String: Any]]) ?? []
    }

    @discardableResult
    public func stop() -> Int32 {
        let status = child.stop()
        try? FileManager.default.removeItem(atPath: directory)
        return status
    }

    deinit { child.stop() }
}
