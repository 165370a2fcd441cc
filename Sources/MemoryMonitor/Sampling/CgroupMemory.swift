/// Memory of a cgroup (the container, systemd unit or pod of the monitored process), in bytes.
public struct CgroupMemory: Sendable, Equatable {
    /// Which interface the figures came from.
    public enum Version: String, Sendable { case v1, v2 }

    /// v2 or v1.
    public var version: Version
    /// memory.current (v2) or memory.usage_in_bytes (v1).
    public var usageBytes: UInt64?
    /// memory.max (v2) or memory.limit_in_bytes (v1); nil for "max" (no limit).
    public var limitBytes: UInt64?
    /// inactive_file from memory.stat (v1: total_inactive_file): page cache the kernel can reclaim first.
    public var inactiveFileBytes: UInt64?
    /// memory.events (v2); v1 knows only `oom_kill` (memory.oom_control).
    public var events = MemoryEvents()
    /// memory.peak (v2, Linux 5.19+) or memory.max_usage_in_bytes (v1): the highest usage recorded.
    public var peakBytes: UInt64?

    /// memory.events "oom" (v2 only): times the limit was hit and reclaim failed.
    public var oomEvents: UInt64? {
        get { events.oom }
        set { events.oom = newValue }
    }
    /// memory.events "oom_kill" (v2) or memory.oom_control "oom_kill" (v1): processes killed.
    public var oomKills: UInt64? {
        get { events.oomKill }
        set { events.oomKill = newValue }
    }
    /// memory.pressure (v2 with PSI only).
    public var pressure: PressureStall?

    public init(
        version: Version, usageBytes: UInt64? = nil, limitBytes: UInt64? = nil, inactiveFileBytes: UInt64? = nil,
        oomEvents: UInt64? = nil, oomKills: UInt64? = nil, pressure: PressureStall? = nil
    ) {
        self.version = version
        self.usageBytes = usageBytes
        self.limitBytes = limitBytes
        self.inactiveFileBytes = inactiveFileBytes
        self.events = MemoryEvents(oom: oomEvents, oomKill: oomKills)
        self.pressure = pressure
    }

    /// The working set as the kubelet and cAdvisor count it: usage less inactive page cache.
    public var workingSetBytes: UInt64? {
        guard let usageBytes else { return nil }
        return usageBytes &- min(inactiveFileBytes ?? 0, usageBytes)
    }

    /// Parses a limit file: "max" (v2) or a v1 value of 2^63 rounded down to a page means no limit.
    public static func parseLimit(_ text: String) -> UInt64?? { text.withProcBytes(parseLimit) }

    static func parseLimit(_ bytes: UnsafeBufferPointer<UInt8>) -> UInt64?? {
        let line = KeyValueLines.firstLine(bytes)
        if "max" ~= line { return .some(nil) }
        guard let value = line.number(allowKiB: false) else { return nil }
        return .some(value >= 0x7FFF_FFFF_FFFF_F000 ? nil : value)
    }

    /// Parses a single-number file such as memory.current.
    public static func parseCounter(_ text: String) -> UInt64? { text.withProcBytes(parseCounter) }

    static func parseCounter(_ bytes: UnsafeBufferPointer<UInt8>) -> UInt64? {
        KeyValueLines.firstLine(bytes).number(allowKiB: false)
    }

    /// The value of `key` in a "name value" file (memory.stat, memory.events, memory.oom_control).
    public static func parseField(_ key: StaticString, in text: String) -> UInt64? { text.withProcBytes { parseField(key, in: $0) } }

    static func parseField(_ key: StaticString, in bytes: UnsafeBufferPointer<UInt8>) -> UInt64? {
        var found: UInt64?
        KeyValueLines.forEachSpaceSeparatedPair(bytes) { name, value in
            if found == nil && key ~= name { found = value }
        }
        return found
    }

    /// Reads one file of a cgroup directory: hands its bytes to the parser and returns true, or
    /// returns false when it is absent or unreadable.
    public typealias FileReader = (_ path: String, _ parse: (UnsafeBufferPointer<UInt8>) -> Void) -> Bool

    /// A `FileReader` over a function that returns a file's text.
    static func reader(_ read: @escaping (String) -> String?) -> FileReader {
        { path, parse in
            guard let text = read(path) else { return false }
            text.withProcBytes(parse)
            return true
        }
    }

    /// Reads a v2 cgroup directory; nil when it has no memory controller files at all.
    package static func readV2(directory: String, read: @escaping (String) -> String? = { ProcFile.read($0) }) -> CgroupMemory? {
        readV2(directory: directory, reader: reader(read))
    }

    /// Reads a v2 cgroup directory through `read`, each file parsed where it was read.
    public static func readV2(directory: String, reader read: FileReader) -> CgroupMemory? {
        var current: UInt64?
        var limit: UInt64??
        _ = read(directory + "/memory.current") { current = parseCounter($0) }
        _ = read(directory + "/memory.max") { limit = parseLimit($0) }
        guard current != nil || limit != nil else { return nil }
        var memory = CgroupMemory(version: .v2, usageBytes: current, limitBytes: limit ?? nil)
        _ = read(directory + "/memory.pressure") { memory.pressure = PressureStall.parse($0) }
        _ = read(directory + "/memory.stat") { memory.inactiveFileBytes = parseField("inactive_file", in: $0) }
        _ = read(directory + "/memory.events") { memory.events = MemoryEvents.parse($0) }
        _ = read(directory + "/memory.peak") { memory.peakBytes = parseCounter($0) }
        return memory
    }

    /// Reads a v1 memory cgroup directory; nil when it has no usage or limit file.
    package static func readV1(directory: String, read: @escaping (String) -> String? = { ProcFile.read($0) }) -> CgroupMemory? {
        readV1(directory: directory, reader: reader(read))
    }

    /// Reads a v1 memory cgroup directory through `read`, each file parsed where it was read.
    public static func readV1(directory: String, reader read: FileReader) -> CgroupMemory? {
        var usage: UInt64?
        var limit: UInt64??
        _ = read(directory + "/memory.usage_in_bytes") { usage = parseCounter($0) }
        _ = read(directory + "/memory.limit_in_bytes") { limit = parseLimit($0) }
        guard usage != nil || limit != nil else { return nil }
        var memory = CgroupMemory(version: .v1, usageBytes: usage, limitBytes: limit ?? nil)
        _ = read(directory + "/memory.stat") { memory.inactiveFileBytes = parseField("total_inactive_file", in: $0) }
        _ = read(directory + "/memory.oom_control") { memory.oomKills = parseField("oom_kill", in: $0) }
        _ = read(directory + "/memory.max_usage_in_bytes") { memory.peakBytes = parseCounter($0) }
        return memory
    }
}
