#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import Synchronization

/// The pseudo-files a check reads every time (/proc/meminfo, /proc/self/status, PSI, the cgroup's
/// memory files), kept open and re-read with `pread` at offset 0: the kernel regenerates a
/// seq_file when it is read from the start, so this is the same content without an `open` (path
/// walk, file allocation) and a `close` per file per check.
///
/// Only for files the kernel writes as one record (see `ProcFile.withContents(fd:positional:limit:singleRecord:_:)`):
/// a read shorter than the buffer is taken as the whole file.
///
/// Only files under /proc and /sys are kept open; any other file (a test fixture, a cgroup
/// directory given elsewhere, a file replaced by rename) is opened for every read, never read stale. A file not read during
/// a sweep is closed at the end of it (`endSweep`), so a cgroup the target left is not held open.
package final class KeptOpenFiles: Sendable {
    private struct Entry {
        var fd: Int32
        /// The sweep that last read it.
        var sweep: UInt64
    }

    private struct State {
        var entries: [String: Entry] = [:]
        var sweep: UInt64 = 0
    }

    private let state = Mutex(State())
    /// At most this many files stay open.
    package let capacity: Int

    package init(capacity: Int = 16) {
        self.capacity = capacity
    }

    deinit {
        state.withLock { for entry in $0.entries.values { _ = Glibc.close(entry.fd) } }
    }

    /// Files open now (for tests).
    package var openCount: Int { state.withLock { $0.entries.count } }

    /// The whole file as text, or why it could not be read.
    package func read(_ path: String) -> Result<String, ReadFailure> {
        read(path) { String(decoding: $0, as: UTF8.self) }
    }

    /// The file's bytes handed to `body` where they were read (on the stack), or why it could not be read.
    package func read<T>(_ path: String, _ body: (UnsafeBufferPointer<UInt8>) -> T) -> Result<T, ReadFailure> {
        let cached = state.withLock { s -> Int32? in
            // One hash of the path, and the entry updated in place.
            guard let index = s.entries.index(forKey: path) else { return nil }
            s.entries.values[index].sweep = s.sweep
            return s.entries.values[index].fd
        }
        if let fd = cached {
            // A failed read calls no body, so the body runs once whichever way the file is read.
            switch ProcFile.withContents(fd: fd, positional: true, singleRecord: true, body) {
            case .success(let value): return .success(value)
            case .failure:
                // The file went away under us (a removed cgroup, an exited process): forget it and
                // answer as a fresh open would.
                forget(path, fd: fd)
            }
        }
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return .failure(ReadFailure(code: errno)) }
        let result = ProcFile.withContents(fd: fd, positional: true, singleRecord: true, body)
        let kept: Bool
        if case .success = result, Self.isPseudoFile(path) {
            kept = state.withLock { s in
                guard s.entries.count < capacity, s.entries[path] == nil else { return false }
                s.entries[path] = Entry(fd: fd, sweep: s.sweep)
                return true
            }
        } else {
            kept = false
        }
        if !kept { _ = Glibc.close(fd) }
        return result
    }

    /// Closes the files not read since the last sweep began, and starts a new one.
    package func endSweep() {
        state.withLock { s in
            // Entries carry the sweep that read them, so starting a new sweep touches none of
            // them; the dictionary is only changed when a file goes (no copy of it per check).
            var stale: [String] = []
            for (path, entry) in s.entries where entry.sweep != s.sweep { stale.append(path) }
            for path in stale {
                if let entry = s.entries.removeValue(forKey: path) { _ = Glibc.close(entry.fd) }
            }
            s.sweep &+= 1
        }
    }

    private func forget(_ path: String, fd: Int32) {
        let removed = state.withLock { s -> Bool in
            guard s.entries[path]?.fd == fd else { return false }
            s.entries[path] = nil
            return true
        }
        if removed { _ = Glibc.close(fd) }
    }

    /// Files under /proc and /sys (procfs, sysfs, cgroupfs): the kernel generates them at each read.
    static func isPseudoFile(_ path: String) -> Bool {
        path.hasPrefix("/proc/") || path.hasPrefix("/sys/")
    }
}
