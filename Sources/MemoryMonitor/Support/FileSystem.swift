#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// The few writes the monitor makes (log file, state directory), with plain system calls.
package enum FileSystem {
    /// Creates `path` and its missing parents (mode 0755); existing directories are fine.
    package static func makeDirectories(_ path: String) {
        var current = path.hasPrefix("/") ? "" : "."
        for part in path.split(separator: "/") {
            current += "/" + part
            mkdir(current, 0o755)
        }
    }

    /// The file's bytes (at most `limit`), or why it could not be read.
    package static func readBytes(_ path: String, limit: Int) -> Result<[UInt8], ReadFailure> {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return .failure(ReadFailure(code: errno)) }
        defer { close(fd) }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 65536)
        while bytes.count < limit {
            let n = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if n < 0 {
                if errno == EINTR { continue }
                return .failure(ReadFailure(code: errno))
            }
            if n == 0 { break }
            bytes.append(contentsOf: chunk[..<n])
        }
        return .success(bytes)
    }

    /// Writes all of `text` to `fd`, retrying short writes and EINTR; stops at any other error.
    package static func writeAll(_ fd: Int32, _ text: String) {
        var text = text
        text.withUTF8 { buffer in
            var offset = 0
            while offset < buffer.count {
                let n = write(fd, buffer.baseAddress! + offset, buffer.count - offset)
                if n < 0 {
                    if errno == EINTR { continue }
                    return
                }
                offset += n
            }
        }
    }
}

extension Double {
    /// Rounded to one decimal, as the SPEC's examples print MB and percent.
    package var roundedToTenth: Double { (self * 10).rounded() / 10 }
}
