/// Memory of one process from /proc/PID/status, in bytes. Kernel threads have no Vm lines,
/// so each field is optional.
public struct ProcessStatus: Sendable, Equatable {
    /// Name (comm), at most 15 characters.
    public var name: String
    /// VmRSS: resident set size.
    public var residentBytes: UInt64?
    /// RssAnon: resident anonymous memory (heap, stacks), Linux 4.5+.
    public var anonymousBytes: UInt64?
    /// VmSize: virtual memory size.
    public var virtualBytes: UInt64?
    /// VmSwap: swapped-out anonymous memory.
    public var swappedBytes: UInt64?
    /// VmHWM: peak resident set size.
    public var peakResidentBytes: UInt64?
    /// Threads.
    public var threads: UInt64?
    /// SIGKILL is pending for the process (ShdPnd): the OOM killer or `kill -9` has killed it and
    /// it has not exited yet. Its memory is being torn down (the OOM reaper frees it first), so
    /// what it holds now says nothing about whether memory recovered.
    public var killPending = false

    public init(
        name: String, residentBytes: UInt64? = nil, virtualBytes: UInt64? = nil, swappedBytes: UInt64? = nil,
        peakResidentBytes: UInt64? = nil, threads: UInt64? = nil
    ) {
        self.name = name
        self.residentBytes = residentBytes
        self.virtualBytes = virtualBytes
        self.swappedBytes = swappedBytes
        self.peakResidentBytes = peakResidentBytes
        self.threads = threads
    }

    /// Parses /proc/PID/status. Nil when the text has no Name line (empty or truncated read).
    public static func parse(_ text: String) -> ProcessStatus? { text.withProcBytes(parse) }

    /// Parses /proc/PID/status's bytes where they were read.
    static func parse(_ bytes: UnsafeBufferPointer<UInt8>) -> ProcessStatus? {
        var status = ProcessStatus(name: "")
        // The keys end at ShdPnd, two lines after Threads, about two thirds down: stop once each
        // has been seen (a kernel thread has no Vm lines, an old kernel no RssAnon; then the whole
        // file is read).
        var seen: UInt8 = 0
        KeyValueLines.scanKibibyteLines(bytes, until: { key, raw, value in
            switch key {
            case "Name":
                status.name = raw.string
                seen |= 1
            case "VmRSS": status.residentBytes = value; seen |= 2
            case "RssAnon": status.anonymousBytes = value; seen |= 4
            case "VmSize": status.virtualBytes = value; seen |= 8
            case "VmSwap": status.swappedBytes = value; seen |= 16
            case "VmHWM": status.peakResidentBytes = value; seen |= 32
            case "Threads": status.threads = value; seen |= 64
            case "ShdPnd":
                status.killPending = Self.hasSIGKILL(raw.trimmed.bytes)
                seen |= 128
            default: break
            }
            return seen == 255
        })
        return seen & 1 != 0 ? status : nil
    }

    /// Whether a signal mask in hex ("0000000000000100") has SIGKILL's bit, bit 8: the lowest
    /// bit of the third hex digit from the right.
    static func hasSIGKILL(_ hex: UnsafeBufferPointer<UInt8>) -> Bool {
        guard hex.count >= 3 else { return false }
        let digit = hex[hex.count - 3]
        let value: UInt8
        switch digit {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): value = digit - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): value = digit - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): value = digit - UInt8(ascii: "A") + 10
        default: return false
        }
        return value & 1 != 0
    }
}
