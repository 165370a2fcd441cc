import Foundation
import TestSupport

/// Python peers from Tests/Peers, run with the test venv's interpreter and stopped by PID.
enum Peers {
    static func script(_ name: String) -> String { TestEnvironment.packageRoot + "/Tests/Peers/" + name }

    /// Waits for the "port N" line a peer prints once listening.
    static func port(of child: ChildProcess) throws -> Int {
        var port: Int?
        _ = child.wait(seconds: 30) {
            port = child.stdout.split(separator: "\n").first { $0.hasPrefix("port ") }.flatMap { Int($0.dropFirst(5)) }
            return port != nil
        }
        guard let port else { throw RawHTTPError(description: "\(child.name) did not start: \(child.stderr)") }
        return port
    }
}

/// Tests/Peers/http_receiver.py: records POSTs, answers as told.
final class HTTPReceiver: @unchecked Sendable {
    let recordPath = NSTemporaryDirectory() + "mm-received-\(UUID().uuidString).jsonl"
    private(set) var child: ChildProcess
    let port: Int

    init(port requested: Int = 0) throws {
        child = try ChildProcess(TestEnvironment.python, [Peers.script("http_receiver.py"), recordPath, "\(requested)"])
        port = try Peers.port(of: child)
    }

    /// Every recorded request: path, headers, parsed JSON body.
    var records: [[String: Any]] {
        let text = (try? String(contentsOfFile: recordPath, encoding: .utf8)) ?? ""
        return text.split(separator: "\n").compactMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }
    }

    func records(path: String) -> [[String: Any]] { records.filter { $0["path"] as? String == path } }

    func setMode(_ mode: String) throws {
        _ = try RawHTTP.request(port: port, method: "POST", path: "/_mode", body: mode)
    }

    /// Stops the receiver (connections are then refused).
    func stop() { child.stop() }

    /// Starts it again on the same port, keeping the record file.
    func restart() throws {
        child = try ChildProcess(TestEnvironment.python, [Peers.script("http_receiver.py"), recordPath, "\(port)"])
        _ = try Peers.port(of: child)
    }

    deinit { child.stop() }
}

/// Tests/Peers/smtp_server.py: aiosmtpd with STARTTLS and AUTH required.
final class SMTPPeer: @unchecked Sendable {
    let directory = NSTemporaryDirectory() + "mm-smtp-\(UUID().uuidString)"
    let child: ChildProcess
    let port: Int

    init() throws {
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        child = try ChildProcess(TestEnvironment.python, [Peers.script("smtp_server.py"), directory])
        port = try Peers.port(of: child)
    }

    var messages: [String] {
        let names = ((try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []).filter { $0.hasSuffix(".eml") }.sorted()
        return names.compactMap { try? String(contentsOfFile: directory + "/" + $0, encoding: .utf8) }
    }

    deinit { child.stop() }
}

/// Tests/Peers/memory_hog.py: a target whose memory the test grows and shrinks.
final class MemoryHog: @unchecked Sendable {
    let child: ChildProcess
    let control = NSTemporaryDirectory() + "mm-hog-\(UUID().uuidString)"

    /// `name`: the comm the hog gives itself (a hostile name for escaping tests).
    init(stepMiB: Int, name: String? = nil) throws {
        try "0".write(toFile: control, atomically: true, encoding: .utf8)
        var environment = ProcessInfo.processInfo.environment
        if let name { environment["MM_HOG_NAME"] = name }
        child = try ChildProcess(TestEnvironment.python, [Peers.script("memory_hog.py"), "\(stepMiB)", control], environment: environment)
        _ = child.wait(seconds: 20) { child.stdout.contains("ready") }
    }

    var pid: Int32 { child.pid }

    /// Holds `count` blocks and waits until the process has them.
    func hold(_ count: Int) {
        try? "\(count)".write(toFile: control, atomically: true, encoding: .utf8)
        _ = child.wait(seconds: 10) { self.child.stdout.hasSuffix("blocks \(count)\n") }
    }

    func grow() { hold(1) }
    func shrink() { hold(0) }

    deinit { child.stop() }
}
