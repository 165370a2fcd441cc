/// Host memory from /proc/meminfo, in bytes.
public struct MemInfo: Sendable, Equatable {
    /// MemTotal.
    public var totalBytes: UInt64
    /// MemAvailable: what can be allocated without swapping (kernel's estimate).
    public var availableBytes: UInt64
    /// MemFree.
    public var freeBytes: UInt64
    /// Buffers.
    public var buffersBytes: UInt64
    /// Cached (page cache, without swap cache).
    public var cachedBytes: UInt64
    /// SwapTotal.
    public var swapTotalBytes: UInt64
    /// SwapFree.
    public var swapFreeBytes: UInt64

    /// Swap in use: SwapTotal - SwapFree.
    public var swapUsedBytes: UInt64 { swapTotalBytes &- min(swapFreeBytes, swapTotalBytes) }

    /// Memory in use on the host: MemTotal - MemAvailable.
    public var usedBytes: UInt64 { totalBytes &- min(availableBytes, totalBytes) }

    public init(
        totalBytes: UInt64, availableBytes: UInt64, freeBytes: UInt64 = 0, buffersBytes: UInt64 = 0,
        cachedBytes: UInt64 = 0, swapTotalBytes: UInt64 = 0, swapFreeBytes: UInt64 = 0
    ) {
        self.totalBytes = totalBytes
        self.availableBytes = availableBytes
        self.freeBytes = freeBytes
        self.buffersBytes = buffersBytes
        self.cachedBytes = cachedBytes
        self.swapTotalBytes = swapTotalBytes
        self.swapFreeBytes = swapFreeBytes
    }

    /// Parses /proc/meminfo. Nil when MemTotal is missing. Kernels before 3.14 have no
    /// MemAvailable: it is then estimated as MemFree + Buffers + Cached.
    public static func parse(_ text: String) -> MemInfo? { text.withProcBytes(parse) }

    /// Parses /proc/meminfo's bytes where they were read.
    static func parse(_ bytes: UnsafeBufferPointer<UInt8>) -> MemInfo? {
        var total: UInt64?
        var available: UInt64?
        var info = MemInfo(totalBytes: 0, availableBytes: 0)
        // The seven keys come in the first 16 lines of about 55: stop once each has been seen.
        var seen: UInt8 = 0
        KeyValueLines.scanKibibyteLines(bytes, until: { key, _, value in
            guard let value else { return false }
            switch key {
            case "MemTotal": total = value; seen |= 1
            case "MemAvailable": available = value; seen |= 2
            case "MemFree": info.freeBytes = value; seen |= 4
            case "Buffers": info.buffersBytes = value; seen |= 8
            case "Cached": info.cachedBytes = value; seen |= 16
            case "SwapTotal": info.swapTotalBytes = value; seen |= 32
            case "SwapFree": info.swapFreeBytes = value; seen |= 64
            default: break
            }
            return seen == 127
        })
        guard let total else { return nil }
        info.totalBytes = total
        info.availableBytes = available ?? min(total, info.freeBytes + info.buffersBytes + info.cachedBytes)
        return info
    }
}
