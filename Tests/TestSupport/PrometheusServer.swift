import Foundation

/// A real Prometheus (Debian's `prometheus`) on 127.0.0.1 with a config the test writes.
public final class PrometheusServer: @unchecked Sendable {
    public let child: ChildProcess
    public let port: Int
    public let directory: String

    /// Starts Prometheus with `config` (YAML text) and `files` written beside it, plus any
    /// `arguments` (such as `--enable-feature=native-histograms`); waits until ready.
    public init(config: String, files: [String: String] = [:], arguments: [String] = []) throws {
        directory = NSTemporaryDirectory() + "mm-prom-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: directory + "/data", withIntermediateDirectories: true)
        try config.write(toFile: directory + "/prometheus.yml", atomically: true, encoding: .utf8)
        for (name, text) in files {
            let path = directory + "/" + name
            try FileManager.default.createDirectory(
                atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
            try text.write(toFile: path, atomically: true, encoding: .utf8)
        }
        port = TestEnvironment.freePort()
        child = try ChildProcess(
            "/usr/bin/prometheus",
            [
                "--config.file=\(directory)/prometheus.yml", "--storage.tsdb.path=\(directory)/data",
                "--web.listen-address=127.0.0.1:\(port)", "--log.level=warn",
            ] + arguments)
        let ready = child.wait(seconds: 60) { (try? RawHTTP.request(port: self.port, path: "/-/ready").status) == 200 }
        guard ready else {
            child.stop()
            throw RawHTTPError(description: "prometheus did not become ready: \(child.stderr)")
        }
    }

    /// Runs an instant query; returns the parsed JSON `data.result` array's count and the raw body.
    public func query(_ promql: String) throws -> (count: Int, body: String) {
        let encoded = promql.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? promql
        let response = try RawHTTP.request(port: port, path: "/api/v1/query?query=\(encoded)")
        guard let json = try JSONSerialization.jsonObject(with: Data(response.body)) as? [String: Any],
            let data = json["data"] as? [String: Any], let result = data["result"] as? [Any]
        else { return (0, response.bodyText) }
        return (result.count, response.bodyText)
    }

    /// A GET on the HTTP API, parsed as JSON.
    public func api(_ path: String) throws -> [String: Any] {
        let response = try RawHTTP.request(port: port, path: path)
        return (try JSONSerialization.jsonObject(with: Data(response.body)) as? [String: Any]) ?? [:]
    }

    /// Polls until `query` returns at least one series, or `seconds` pass.
    public func waitForData(_ promql: String, seconds: Double = 60) -> Bool {
        child.wait(seconds: seconds) { ((try? self.query(promql).count) ?? 0) > 0 }
    }

    @discardableResult
    public func stop() -> Int32 {
        let status = child.stop()
        try? FileManager.default.removeItem(atPath: directory)
        return status
    }

    deinit { child.stop() }
}
