#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// Trims the resident pages of the process's own code.
///
/// A page fault on a file mapping maps the neighbouring pages too ("fault-around", 64 KiB by
/// default), so a large static binary of which a few hundred KiB run shows many MiB resident.
/// After start-up this marks the read-only file mappings MADV_RANDOM (no more fault-around) and
/// drops their pages with MADV_DONTNEED; the code that runs faults back in page by page, from
/// the page cache. Mappings with any privately written page (relocated data) are left alone:
/// dropping those would lose the writes.
public enum ExecutablePages {
    /// Returns the bytes of resident file-backed pages released, or nil when smaps is unreadable.
    @discardableResult
    public static func trim() -> Int? {
        guard let smaps = ProcFile.read("/proc/self/smaps", limit: 16 << 20) else { return nil }
        var released = 0
        var range: (start: UInt, end: UInt)?
        var eligible = false
        var resident = 0
        func finish() {
            if let r = range, eligible, let pointer = UnsafeMutableRawPointer(bitPattern: r.start) {
                let length = Int(r.end - r.start)
                _ = madvise(pointer, length, MADV_RANDOM)
                if madvise(pointer, length, MADV_DONTNEED) == 0 { released += resident }
            }
            range = nil
        }
        KeyValueLines.forEachLine(smaps) { line in
            if let dash = line.utf8.firstIndex(of: UInt8(ascii: "-")), line.utf8.first.map({ Self.isHex($0) }) == true,
                line.contains(" ")
            {
                // A mapping header: "start-end perms offset dev inode path".
                finish()
                let fields = line.split(separator: " ", omittingEmptySubsequences: true)
                guard fields.count >= 6, let start = UInt(line[..<dash], radix: 16),
                    let end = UInt(fields[0][fields[0].utf8.index(after: dash)...], radix: 16)
                else { return }
                let perms = fields[1]
                // Read-only or executable, private, file-backed (a path, not [heap] or [stack]).
                eligible = (perms == "r-xp" || perms == "r--p") && fields[5].hasPrefix("/")
                range = (start, end)
                resident = 0
                return
            }
            if line.hasPrefix("Rss:") { resident = Int(KeyValueLines.number(line.dropFirst(4).trimmingTabs, allowKiB: true) ?? 0) }
            // Any privately written page (a relocated, then write-protected segment) is anonymous
            // and must stay. (Private_Dirty alone also counts page-cache pages not yet written back.)
            if line.hasPrefix("Anonymous:") {
                if (KeyValueLines.number(line.drop { $0 != ":" }.dropFirst().trimmingTabs, allowKiB: true) ?? 1) != 0 { eligible = false }
            }
        }
        finish()
        return released
    }

    private static func isHex(_ byte: UInt8) -> Bool {
        (byte >= 0x30 && byte <= 0x39) || (byte >= 0x61 && byte <= 0x66)
    }
}
