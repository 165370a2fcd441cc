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

    /// A journal's text for replay; "" when it does not exist. A journal that exists but cannot be
    /// read, or is over `limit` bytes, is never overwritten: it is renamed to `<path>.unread-<time>`
    /// and the returned warning says so. Throws when it can be neither read nor moved aside.
    package static func readJournal(_ path: String, limit: Int) throws(StateDirectoryError) -> (text: String, warning: String?) {
        var info = stat()
        // lstat: a link planted at a state file's name is moved aside, never followed.
        guard lstat(path, &info) == 0 else { return ("", nil) }
        var unreadable: String?
        if (info.st_mode & S_IFMT) == S_IFLNK {
            unreadable = "it is a symbolic link, which a state file never is"
        } else if Int(info.st_size) > limit {
            unreadable = "it is \(info.st_size) bytes, over the \(limit >> 20) MiB this monitor replays"
        } else {
            switch readBytes(path, limit: limit + 1, followLinks: false) {
            case .success(let bytes): return (String(decoding: bytes, as: UTF8.self), nil)
            case .failure(let failure): unreadable = "\(failure)"
            }
        }
        let aside = path + ".unread-\(Int(WallClock.now()))"
        guard rename(path, aside) == 0 else {
            throw StateDirectoryError(
                message: "\(path) cannot be read (\(unreadable ?? "?")) and cannot be moved aside (\(String(cString: strerror(errno)))); refusing to overwrite it")
        }
        return ("", "\(path) could not be read (\(unreadable ?? "?")); moved aside to \(aside): what it held is not replayed")
    }

    /// The file's bytes (at most `limit`), or why it could not be read.
    package static func readBytes(_ path: String, limit: Int, followLinks: Bool = true) -> Result<[UInt8], ReadFailure> {
        let fd = open(path, O_RDONLY | O_CLOEXEC | (followLinks ? 0 : O_NOFOLLOW))
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

    /// Writes all of `text` to `fd`, retrying short writes and EINTR; stops at any other error
    /// and returns its errno (nil when everything was written).
    @discardableResult
    package static func writeAll(_ fd: Int32, _ text: String) -> Int32? {
        var text = text
        return text.withUTF8 { buffer -> Int32? in
            var offset = 0
            while offset < buffer.count {
                let n = write(fd, buffer.baseAddress! + offset, buffer.count - offset)
                if n < 0 {
                    if errno == EINTR { continue }
                    return errno
                }
                if n == 0 { return EIO }
                offset += n
            }
            return nil
        }
    }
}

extension Double {
    /// Rounded to one decimal, as the SPEC's examples print MB and percent.
    package var roundedToTenth: Double { (self * 10).rounded() / 10 }
}
