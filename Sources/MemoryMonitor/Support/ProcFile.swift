#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// Why a /proc or /sys read failed. `isMissing` separates "not there" (the process exited, the
/// kernel has no such file) from "there but unreadable" (permissions, EMFILE): the first is a
/// fact about the target, the second leaves the value unknown.
package struct ReadFailure: Error, Sendable, Equatable, CustomStringConvertible {
    /// The errno of the failed call.
    package var code: Int32

    /// The file or directory does not exist (ENOENT, ESRCH, ENOTDIR).
    package var isMissing: Bool { code == ENOENT || code == ESRCH || code == ENOTDIR }

    /// A short reason for logs and `unavailable` maps, e.g. "permission denied".
    package var description: String {
        switch code {
        case EACCES, EPERM: "permission denied"
        case EMFILE: "too many open files (EMFILE)"
        case ENFILE: "too many open files in the system (ENFILE)"
        case ENOENT, ESRCH: "does not exist"
        case ENOMEM: "out of memory (ENOMEM)"
        default: String(cString: strerror(code))
        }
    }
}

/// Reads the small pseudo-files of /proc and /sys with plain system calls: no Foundation, one buffer.
package enum ProcFile {
    /// The whole file as text, or nil when it does not exist or cannot be read.
    package static func read(_ path: String, limit: Int = 1 << 20) -> String? {
        try? readOrFail(path, limit: limit).get()
    }

    /// The whole file as text, or why it could not be read.
    package static func readOrFail(_ path: String, limit: Int = 1 << 20) -> Result<String, ReadFailure> {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return .failure(ReadFailure(code: errno)) }
        defer { close(fd) }
        // Nearly every file here fits in 16 KiB: read into stack space, spill to an array past that.
        return withUnsafeTemporaryAllocation(of: UInt8.self, capacity: 16384) { buffer -> Result<String, ReadFailure> in
            guard let base = buffer.baseAddress else { return .failure(ReadFailure(code: ENOMEM)) }
            var spill: [UInt8] = []
            var filled = 0
            while true {
                if filled == buffer.count {
                    spill.append(contentsOf: buffer)
                    filled = 0
                    if spill.count >= limit { break }
                }
                let n = Glibc.read(fd, base + filled, buffer.count - filled)
                if n < 0 {
                    if errno == EINTR { continue }
                    return .failure(ReadFailure(code: errno))
                }
                if n == 0 { break }
                filled += n
            }
            if spill.isEmpty { return .success(String(decoding: UnsafeBufferPointer(rebasing: buffer[..<filled]), as: UTF8.self)) }
            spill.append(contentsOf: buffer[..<filled])
            return .success(String(decoding: spill, as: UTF8.self))
        }
    }

    /// The names in a directory (without "." and ".."), or why it could not be opened.
    package static func directoryEntries(_ path: String) -> Result<[String], ReadFailure> {
        guard let dir = opendir(path) else { return .failure(ReadFailure(code: errno)) }
        defer { closedir(dir) }
        var names: [String] = []
        while let entry = readdir(dir) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
            }
            if name != "." && name != ".." { names.append(name) }
        }
        return .success(names)
    }

    /// The number of entries in a directory without building their names (open file descriptors).
    package static func countEntries(_ path: String) -> Result<Int, ReadFailure> {
        guard let dir = opendir(path) else { return .failure(ReadFailure(code: errno)) }
        defer { closedir(dir) }
        var count = 0
        while let entry = readdir(dir) {
            let isDot = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                raw[0] == UInt8(ascii: ".") && (raw[1] == 0 || (raw[1] == UInt8(ascii: ".") && raw[2] == 0))
            }
            if !isDot { count += 1 }
        }
        return .success(count)
    }
}
