import Foundation

/// A 64 KiB tmpfs mounted for one test (root only, as CI runs), to fill up on purpose.
public final class SmallDisk: @unchecked Sendable {
    public let path: String

    public init(kilobytes: Int = 64) throws {
        path = NSTemporaryDirectory() + "mm-small-disk-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        let mounted = try TestEnvironment.run("/bin/mount", ["-t", "tmpfs", "-o", "size=\(kilobytes)k,mode=0777", "tmpfs", path])
        guard mounted.status == 0 else { throw SmallDiskError(description: "mount failed: \(mounted.stderr)") }
    }

    /// Writes `filler` until the file system is full (ENOSPC); returns the bytes written.
    @discardableResult
    public func fill() -> Int {
        let fd = open(path + "/filler", O_WRONLY | O_CREAT | O_APPEND, 0o600)
        defer { close(fd) }
        let block = [UInt8](repeating: 0x2e, count: 512)
        var total = 0
        while true {
            let n = block.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
            if n <= 0 { break }
            total += n
        }
        return total
    }

    /// Frees what `fill` took.
    public func free() { unlink(path + "/filler") }

    deinit {
        _ = try? TestEnvironment.run("/bin/umount", ["-l", path])
        try? FileManager.default.removeItem(atPath: path)
    }
}

public struct SmallDiskError: Error, CustomStringConvertible {
    public var description: String
}
