#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// Reads the small pseudo-files of /proc and /sys with plain system calls: no Foundation, one buffer.
public enum ProcFile {
    /// The whole file as text, or nil when it does not exist or cannot be read (a process that
    /// exited, a file the kernel does not have, a permission the monitor lacks).
    public static func read(_ path: String, limit: Int = 1 << 20) -> String? {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        // Nearly every file here fits in 16 KiB: read into stack space, spill to an array past that.
        return withUnsafeTemporaryAllocation(of: UInt8.self, capacity: 16384) { buffer -> String? in
            var spill: [UInt8] = []
            var filled = 0
            while true {
                if filled == buffer.count {
                    spill.append(contentsOf: buffer)
                    filled = 0
                    if spill.count >= limit { break }
                }
                let n = Glibc.read(fd, buffer.baseAddress! + filled, buffer.count - filled)
                if n < 0 {
                    if errno == EINTR { continue }
                    return nil
                }
                if n == 0 { break }
                filled += n
            }
            if spill.isEmpty { return String(decoding: UnsafeBufferPointer(rebasing: buffer[..<filled]), as: UTF8.self) }
            spill.append(contentsOf: buffer[..<filled])
            return String(decoding: spill, as: UTF8.self)
        }
    }

    /// The names in a directory (without "." and ".."), or nil when it cannot be opened.
    public static func directoryEntries(_ path: String) -> [String]? {
        guard let dir = opendir(path) else { return nil }
        defer { closedir(dir) }
        var names: [String] = []
        while let entry = readdir(dir) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
            }
            if name != "." && name != ".." { names.append(name) }
        }
        return names
    }

    /// The number of entries in a directory without building their names (open file descriptors).
    public static func countEntries(_ path: String) -> Int? {
        guard let dir = opendir(path) else { return nil }
        defer { closedir(dir) }
        var count = 0
        while let entry = readdir(dir) {
            let isDot = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                raw[0] == UInt8(ascii: ".") && (raw[1] == 0 || (raw[1] == UInt8(ascii: ".") && raw[2] == 0))
            }
            if !isDot { count += 1 }
        }
        return count
    }
}
