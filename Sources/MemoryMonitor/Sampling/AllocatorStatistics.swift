import CMalloc
#if canImport(Glibc)
import Glibc
#endif

/// The monitor's own heap as glibc's allocator sees it (mallinfo2), in bytes.
public struct AllocatorStatistics: Sendable, Equatable {
    /// Bytes handed out by malloc and not yet freed (uordblks + hblkhd).
    public var inUseBytes: UInt64
    /// Bytes the allocator holds free, ready for reuse or for `malloc_trim` to return (fordblks).
    public var freeBytes: UInt64
    /// Chunks on the free lists (ordblks): fragmentation shows as many of them.
    public var freeChunks: UInt64

    public init(inUseBytes: UInt64, freeBytes: UInt64, freeChunks: UInt64) {
        self.inUseBytes = inUseBytes
        self.freeBytes = freeBytes
        self.freeChunks = freeChunks
    }

    /// The current figures of this process's allocator.
    public static func current() -> AllocatorStatistics {
        let info = mallinfo2()
        return AllocatorStatistics(
            inUseBytes: UInt64(info.uordblks + info.hblkhd),
            freeBytes: UInt64(info.fordblks),
            freeChunks: UInt64(info.ordblks)
        )
    }

    /// The variables of the process environment that choose the arena count.
    public static func arenaEnvironment() -> [String: String] {
        var found: [String: String] = [:]
        for name in ["MALLOC_ARENA_MAX", "GLIBC_TUNABLES"] {
            if let value = getenv(name) { found[name] = String(cString: value) }
        }
        return found
    }

    /// The cap on glibc's malloc arenas the exporter sets at start (`capArenas`).
    public static let arenaCap: Int32 = 2

    /// Caps glibc's malloc arenas at `arenaCap` unless the environment sets `MALLOC_ARENA_MAX` or
    /// the `glibc.malloc.arena_max` tunable (which glibc then applies itself); returns the cap
    /// set, or nil. By default glibc opens up
    /// to 8 arenas per core as threads contend; the monitor had 8 after a minute. Every arena keeps
    /// its own free memory, and `mallinfo2` (read at every check) walks them all: with 2 it took
    /// 11.6 µs instead of 24, anonymous memory was about 120 KiB lower, and `/metrics`
    /// throughput was not lower (docs/benchmarks.md). Call it first thing, before threads allocate.
    @discardableResult
    public static func capArenas(environment: [String: String]) -> Int32? {
        guard environment["MALLOC_ARENA_MAX"] == nil, environment["GLIBC_TUNABLES"]?.contains("glibc.malloc.arena_max") != true else { return nil }
        return mallopt(M_ARENA_MAX, arenaCap) == 1 ? arenaCap : nil
    }

    /// Returns free heap memory to the kernel (`malloc_trim(0)`); true when some was released.
    @discardableResult
    public static func trim() -> Bool { malloc_trim(0) == 1 }
}
