#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import CLinux

/// One append-only file of the state directory (`alerts.journal`, `history.jsonl`), written so
/// that no failure destroys what it held:
///
/// - a rewrite (compaction) goes to a new temporary file created with `O_EXCL|O_NOFOLLOW`, is
///   fsynced, and replaces the file by rename only when every write succeeded; otherwise the old
///   file stays as it was;
/// - an append that fails (ENOSPC, EIO) is cut back to the last whole line and the journal is
///   marked behind: its owner rewrites it from what it holds in memory at the next attempt;
/// - the file is never followed through a symbolic link;
/// - a reserve of blocks is kept allocated past the end of the file (`fallocate` with
///   `FALLOC_FL_KEEP_SIZE`), so appends keep landing for a while after the disk fills up.
///
/// Not thread-safe: its owner keeps it under its lock.
struct StateJournal {
    /// The file's name in the state directory, the `file` label of `memory_state_write_errors_total`.
    let name: String
    let path: String
    private(set) var fd: Int32 = -1
    /// Bytes of whole lines in the file.
    private(set) var size = 0
    /// An append or rewrite failed since the last rewrite: the file lacks lines its owner holds.
    private(set) var isBehind = false
    private var reservedEnd = 0
    static let reserveBytes = 16 * 1024

    init(directory: String, name: String) {
        self.name = name
        self.path = directory + "/" + name
    }

    /// At start, after the file was read: keeps a copy of it when it had lines that could not be
    /// read, compacts it to `text` (only when that copy exists: unread bytes are never dropped),
    /// and opens it for appending. Returns what to log and whether the file now holds `text`.
    /// Throws when the file cannot be opened at all, for any reason but a full disk.
    mutating func start(compactingTo text: String, hasUnreadLines: Bool, errors: StateWriteErrors) throws(StateDirectoryError)
        -> (warnings: [String], compacted: Bool)
    {
        var warnings: [String] = []
        var compact = true
        if hasUnreadLines {
            switch preserve(as: "corrupt") {
            case .success(let aside): warnings.append("\(path): the file as it was, with the lines skipped, is kept at \(aside)")
            case .failure(let error):
                compact = false
                warnings.append("\(path): \(error); the file is not compacted, so its unread lines stay in it")
            }
        }
        var compacted = false
        if compact {
            if let error = replace(with: text) {
                warnings.append("\(path): \(error); the file is kept as it was and appended to")
                errors.report(file: name, error)
            } else {
                compacted = true
            }
        }
        if fd < 0, let code = openForAppend() {
            // A full disk still lets the monitor run (it writes the file once there is space); anything else is a broken state directory.
            guard code == ENOSPC || code == EDQUOT else {
                throw StateDirectoryError(message: "cannot open \(path): \(String(cString: strerror(code)))")
            }
            warnings.append("\(path): cannot be opened (\(String(cString: strerror(code)))); what it would hold is kept in memory and written once there is space")
        }
        return (warnings, compacted)
    }

    /// Opens the file as it is for appending (creating it empty when missing).
    mutating func openForAppend() -> Int32? {
        if fd >= 0 { return nil }
        let opened = open(path, O_WRONLY | O_APPEND | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0o600)
        guard opened >= 0 else { return errno }
        fd = opened
        size = Int(lseek(opened, 0, SEEK_END))
        if size < 0 { size = 0 }
        reservedEnd = size
        reserve()
        return nil
    }

    /// Replaces the file with `text`: a temporary file, every write checked, fsync, rename, and
    /// the directory fsynced. On failure the file is unchanged (still open for appending if it
    /// was, and no more behind than before: a failed compaction loses nothing) and the error is
    /// returned.
    mutating func replace(with text: String) -> String? {
        var temporary = ""
        var out: Int32 = -1
        // A fresh name, never an existing one: a file or link planted there is left alone.
        for attempt in 0..<100 {
            temporary = path + ".tmp-\(getpid())-\(attempt)"
            out = open(temporary, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0o600)
            if out >= 0 || errno != EEXIST { break }
        }
        guard out >= 0 else {
            return "cannot create \(temporary): \(String(cString: strerror(errno)))"
        }
        var failure: String?
        if let code = FileSystem.writeAll(out, text) {
            failure = "cannot write \(temporary): \(String(cString: strerror(code)))"
        } else if fsync(out) != 0 {
            failure = "cannot fsync \(temporary): \(String(cString: strerror(errno)))"
        }
        if closeDescriptor(out) != 0 && failure == nil { failure = "cannot close \(temporary): \(String(cString: strerror(errno)))" }
        if failure == nil && rename(temporary, path) != 0 { failure = "cannot replace \(path): \(String(cString: strerror(errno)))" }
        if let failure {
            unlink(temporary)
            return failure
        }
        Self.syncDirectory(of: path)
        closeFile()
        isBehind = false
        if let code = openForAppend() {
            isBehind = true
            return "cannot open \(path): \(String(cString: strerror(code)))"
        }
        return nil
    }

    /// Appends one whole line and fsyncs. On failure what was written of it is cut off again, the
    /// journal is marked behind and the error returned.
    mutating func append(_ line: String) -> String? {
        if fd < 0, let code = openForAppend() {
            isBehind = true
            return "cannot open \(path): \(String(cString: strerror(code)))"
        }
        if let code = FileSystem.writeAll(fd, line) {
            // A torn line would make the next line unreadable too: cut back to the last whole one.
            _ = ftruncate(fd, off_t(size))
            isBehind = true
            return "cannot append to \(path): \(String(cString: strerror(code)))"
        }
        size += line.utf8.count
        if fsync(fd) != 0 {
            isBehind = true
            return "cannot fsync \(path): \(String(cString: strerror(errno)))"
        }
        if size + Self.reserveBytes / 2 > reservedEnd { reserve() }
        return nil
    }

    /// Keeps `reserveBytes` allocated past the end; file systems without fallocate simply have no reserve.
    private mutating func reserve() {
        guard fd >= 0 else { return }
        if mm_reserve_after_end(fd, off_t(size), off_t(Self.reserveBytes)) == 0 { reservedEnd = size + Self.reserveBytes }
    }

    mutating func closeFile() {
        if fd >= 0 { _ = closeDescriptor(fd) }
        fd = -1
    }

    /// Keeps the file's bytes under another name (a hard link: no copy, no space needed), for a
    /// file with lines that could not be read, before a rewrite drops them. Returns the new path,
    /// or the error.
    func preserve(as suffix: String) -> Result<String, StateDirectoryError> {
        var aside = path + "." + suffix + "-\(Int(WallClock.now()))"
        for attempt in 0..<100 {
            if attempt > 0 { aside = path + "." + suffix + "-\(Int(WallClock.now()))-\(attempt)" }
            if link(path, aside) == 0 { return .success(aside) }
            if errno != EEXIST { break }
        }
        return .failure(StateDirectoryError(message: "cannot keep a copy of \(path) at \(aside): \(String(cString: strerror(errno)))"))
    }

    private static func syncDirectory(of path: String) {
        let directory = path.split(separator: "/", omittingEmptySubsequences: false).dropLast().joined(separator: "/")
        let fd = open(directory.isEmpty ? "." : directory, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard fd >= 0 else { return }
        fsync(fd)
        _ = closeDescriptor(fd)
    }
}

/// close(2), reachable from types that have a `close` of their own.
private func closeDescriptor(_ fd: Int32) -> Int32 { close(fd) }
