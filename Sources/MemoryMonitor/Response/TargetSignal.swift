#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import CLinux

/// Sends a signal to processes of the target, each held by its identity (pid and start time), so
/// that a signal can never reach a process that merely reuses a target's pid.
///
/// For each process: a pidfd is opened (`pidfd_open`), the start time is read again *after* it is
/// open (the pidfd pins whichever process had the pid at that moment, so a matching start time
/// proves it is the target), and the signal is sent through the pidfd (`pidfd_send_signal`). On
/// kernels without pidfds (before 5.3) the start time is read right before `kill` and a mismatch
/// refuses. The monitor and its ancestors are never signalled, whatever the target says.
enum TargetSignal {
    /// Who is signalled, and why not where a process is left alone.
    struct Outcome: Sendable {
        var sent: [Int32] = []
        /// Processes left alone on purpose (no handler, gone, another process now, the monitor's own).
        var refused: [(pid: Int32, reason: String)] = []
        /// Processes that should have been signalled and were not (permission, an unreadable mask).
        var failures: [String] = []
    }

    /// Whether this kernel has pidfds (probed once: ENOSYS before Linux 5.3).
    static let hasPidfd: Bool = {
        let fd = mm_pidfd_open(getpid())
        if fd >= 0 { close(fd) }
        return fd >= 0 || errno != ENOSYS
    }()

    /// Sends `signal` to `members`. With `requireHandler`, a process whose SigCgt mask does not
    /// catch the signal is left alone: SIGUSR1, SIGUSR2 and SIGHUP terminate a process that has
    /// no handler, which is not what a clean-up request means. `allowOwnProcess` is for an
    /// embedding service that is its own target.
    static func send(
        _ signal: NamedSignal, to members: [Sample.TargetProcess.Member], requireHandler: Bool, allowOwnProcess: Bool = false
    ) -> (ActionResult, String) {
        guard !members.isEmpty else { return (.skipped, "no target process") }
        let outcome = deliver(signal, to: members, requireHandler: requireHandler, allowOwnProcess: allowOwnProcess)
        return summarize(outcome, signal: signal)
    }

    /// The result and detail of an outcome: ok when every process meant was signalled, skipped
    /// when none was and nothing failed, failed when something failed.
    static func summarize(_ outcome: Outcome, signal: NamedSignal) -> (ActionResult, String) {
        var parts: [String] = []
        if !outcome.sent.isEmpty { parts.append("\(signal.name) sent to pid \(outcome.sent.map(String.init).joined(separator: ","))") }
        for (pid, reason) in outcome.refused { parts.append("pid \(pid) \(reason), not signalled") }
        parts += outcome.failures
        let detail = parts.joined(separator: "; ")
        if !outcome.sent.isEmpty { return (outcome.failures.isEmpty ? .ok : .failed, detail) }
        return (outcome.failures.isEmpty ? .skipped : .failed, detail)
    }

    /// `usePidfd: false` takes the path of kernels before 5.3 (tests run it on any kernel).
    static func deliver(
        _ signal: NamedSignal, to members: [Sample.TargetProcess.Member], requireHandler: Bool, allowOwnProcess: Bool, usePidfd: Bool = hasPidfd
    ) -> Outcome {
        var outcome = Outcome()
        let own = getpid()
        let ancestors = ProcessTree.ownAncestors()
        for member in members {
            let pid = member.pid
            if pid <= 0 {
                outcome.refused.append((pid, "is not a process id"))
                continue
            }
            if pid == own && !allowOwnProcess {
                outcome.refused.append((pid, "is the monitor itself"))
                continue
            }
            if ancestors.contains(pid) {
                outcome.refused.append((pid, "is an ancestor of the monitor (its wrapper, shell or supervisor)"))
                continue
            }
            guard let start = member.startTicks else {
                outcome.refused.append((pid, "has no known start time (its /proc/\(pid)/stat was unreadable), so it cannot be told from a reused pid"))
                continue
            }
            let pidfd = usePidfd ? mm_pidfd_open(pid) : -1
            let openError = errno
            defer { if pidfd >= 0 { close(pidfd) } }
            if pidfd < 0 && usePidfd {
                if openError == ESRCH {
                    outcome.refused.append((pid, "has exited"))
                } else {
                    outcome.failures.append("pid \(pid): pidfd_open: \(String(cString: strerror(openError)))")
                }
                continue
            }
            // With the pidfd open, this read is of the process the pidfd holds (or its successor,
            // which then has another start time): a match proves the identity.
            if let refusal = identityRefusal(pid: pid, startTicks: start) {
                outcome.refused.append((pid, refusal))
                continue
            }
            if requireHandler {
                switch catches(signal.number, pid: pid) {
                case .some(false):
                    outcome.refused.append((pid, "has no \(signal.name) handler (it would terminate)"))
                    continue
                case .none:
                    outcome.failures.append("pid \(pid): its handler mask (/proc/\(pid)/status SigCgt) is unreadable")
                    continue
                case .some(true): break
                }
            }
            let result: Int32
            if pidfd >= 0 {
                result = mm_pidfd_send_signal(pidfd, signal.number)
            } else {
                // No pidfd (kernel before 5.3): the narrowest check left is right before kill.
                if let refusal = identityRefusal(pid: pid, startTicks: start) {
                    outcome.refused.append((pid, refusal))
                    continue
                }
                result = kill(pid, signal.number)
            }
            if result == 0 {
                outcome.sent.append(pid)
            } else {
                let e = errno
                if e == ESRCH {
                    outcome.refused.append((pid, "has exited"))
                } else {
                    outcome.failures.append(
                        "pid \(pid): \(String(cString: strerror(e)))\(e == EPERM ? " (signalling another user's process needs CAP_KILL or the same uid)" : "")")
                }
            }
        }
        return outcome
    }

    /// Why `pid` is not the process that started at `startTicks` any more, or nil when it is.
    static func identityRefusal(pid: Int32, startTicks: UInt64) -> String? {
        guard let stat = ProcFile.read("/proc/\(pid)/stat", singleRecord: true).flatMap(ProcessStat.parse) else { return "has exited" }
        if stat.startTicks != startTicks { return "now belongs to another process (its start time changed)" }
        if stat.hasExited { return "has exited" }
        return nil
    }

    /// Whether `pid` catches `signal` (SigCgt in /proc/PID/status); nil when unreadable.
    static func catches(_ signal: Int32, pid: Int32) -> Bool? {
        guard signal >= 1 && signal <= 64 else { return nil }
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
