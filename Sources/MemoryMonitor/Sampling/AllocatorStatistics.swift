import CMalloc

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

    /// Returns free heap memory to the kernel (`malloc_trim(0)`); true when some was released.
    @discardableResult
    public static func trim() -> Bool { malloc_trim(0) == 1 }
}
