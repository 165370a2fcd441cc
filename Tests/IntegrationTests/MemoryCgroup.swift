import Foundation
import Testing

/// A child of the v1 memory controller with a limit, for a test; `remove()` when done (after its
/// processes have exited). Nil where it cannot be made, with the reason printed and recorded as
/// an issue: this machine kind has a v1 memory controller and runs tests as root, so that is a
/// failure, never a silent skip.
struct MemoryCgroup {
    let path: String

    init?(prefix: String, limitBytes: Int, test: String = #function) throws {
        let path = "/sys/fs/cgroup/memory/\(prefix)-\(UUID().uuidString.prefix(8))"
        do {
            try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: false)
        } catch {
            print("SKIP \(test): cannot create \(path): \(error)")
            Issue.record("cannot create a memory cgroup here: \(error)")
            return nil
        }
        self.path = path
        try "\(limitBytes)".write(toFile: path + "/memory.limit_in_bytes", atomically: false, encoding: .utf8)
    }

    func remove() { rmdir(path) }
}
