#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// Sends a signal to the target's processes, refusing where it would kill instead of ask.
enum TargetSignal {
    /// Sends `signal` to each pid. With `requireHandler`, a process whose SigCgt mask does not
    /// catch the signal is left alone: SIGUSR1, SIGUSR2 and SIGHUP terminate a process that has
    /// no handler, which is not what a clean-up request means.
    static func send(_ signal: NamedSignal, to pids: [Int32], requireHandler: Bool) -> (ActionResult, String) {
        guard !pids.isEmpty else { return (.skipped, "no target process") }
        var sent: [Int32] = []
        var noHandler: [Int32] = []
        var failures: [String] = []
        for pid in pids {
            if requireHandler {
                switch catches(signal.number, pid: pid) {
                case .some(false):
                    noHandler.append(pid)
                    continue
                case .none:
                    failures.append("pid \(pid): its handler mask (/proc/\(pid)/status SigCgt) is unreadable")
                    continue
                case .some(true): break
                }
            }
            if kill(pid, signal.number) == 0 {
                sent.append(pid)
            } else {
                let e = errno
                failures.append("pid \(pid): \(String(cString: strerror(e)))\(e == EPERM ? " (signalling another user's process needs CAP_KILL or the same uid)" : "")")
            }
        }
        var parts: [String] = []
        if !sent.isEmpty { parts.append("\(signal.name) sent to pid \(sent.map(String.init).joined(separator: ","))") }
        if !noHandler.isEmpty {
            parts.append("pid \(noHandler.map(String.init).joined(separator: ",")) has no \(signal.name) handler (it would terminate), not signalled")
        }
        parts += failures
        let detail = parts.joined(separator: "; ")
        if !sent.isEmpty { return (failures.isEmpty ? .ok : .failed, detail) }
        return (failures.isEmpty ? .skipped : .failed, detail)
    }

    /// Whether `pid` catches `signal` (SigCgt in /proc/PID/status); nil when unreadable.
    static func catches(_ signal: Int32, pid: Int32) -> Bool? {
        guard let text = ProcFile.read("/proc/\(pid)/status") else { return nil }
        guard let mask = caughtMask(text) else { return nil }
        return mask & (UInt64(1) << UInt64(signal - 1)) != 0
    }

    /// The SigCgt bit mask of a /proc/PID/status text.
    static func caughtMask(_ status: String) -> UInt64? {
        for line in status.split(separator: "\n") where line.hasPrefix("SigCgt:") {
            return UInt64(line.dropFirst("SigCgt:".count).trimmingPrefix(while: { $0 == " " || $0 == "\t" }), radix: 16)
        }
        return nil
    }
}
