#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// Parent links between processes, for the two questions the actions ask of a group: who is a
/// root (no other member above it: the wrapper or pre-fork master a restart goes to) and who is
/// a leaf (no other member below it: the worker a clean-up signal goes to); and which processes
/// are the monitor's own ancestors (never a target).
enum ProcessTree {
    /// Walks stop after this many parents: pid namespaces nest at most 32 deep, and a loop
    /// (a pid reused while walking) must end.
    static let maximumDepth = 64

    /// The parent of a live process from /proc/PID/stat; nil when it has gone or cannot be read.
    static func parent(of pid: Int32) -> Int32? {
        guard pid > 0, let stat = ProcFile.read("/proc/\(pid)/stat", singleRecord: true).flatMap(ProcessStat.parse) else { return nil }
        return stat.parentPid
    }

    /// `pid`'s ancestors up to the top of its pid namespace (the pid whose parent is 0), nearest first.
    static func ancestors(of pid: Int32, parentOf: (Int32) -> Int32? = parent(of:)) -> [Int32] {
        var list: [Int32] = []
        var current = pid
        while list.count < maximumDepth, let up = parentOf(current), up > 0, up != pid, !list.contains(up) {
            list.append(up)
            current = up
        }
        return list
    }

    /// The monitor's own ancestors (its wrapper, shell, supervisor, init): a process-name or
    /// command-line match must never pick them, and no action ever signals them.
    static func ownAncestors() -> Set<Int32> { Set(ancestors(of: getpid())) }

    /// Roots and leaves of a group. `knownParents` holds the members' parents (read with their
    /// start times); the parents of other processes on the way up are asked of `parentOf`, once each.
    static func shape(
        members: [Int32], knownParents: [Int32: Int32], parentOf: (Int32) -> Int32? = parent(of:)
    ) -> (roots: Set<Int32>, leaves: Set<Int32>) {
        let memberSet = Set(members)
        guard members.count > 1 else { return (memberSet, memberSet) }
        // The nearest member above each process walked (nil: none up to the top).
        var nearestMemberAbove: [Int32: Int32?] = [:]
        var roots = Set<Int32>()
        var hasMemberBelow = Set<Int32>()
        for member in members {
            var walked: [Int32] = []
            var found: Int32?
            var current = knownParents[member] ?? parentOf(member)
            while let pid = current, pid > 0, walked.count < maximumDepth {
                if memberSet.contains(pid) {
                    if pid != member { found = pid }
                    break
                }
                if let known = nearestMemberAbove[pid] {
                    found = known
                    break
                }
                if pid == 1 { break }  // the top of the pid namespace: nothing above it
                walked.append(pid)
                current = knownParents[pid] ?? parentOf(pid)
            }
            for pid in walked { nearestMemberAbove[pid] = .some(found) }
            if let found { hasMemberBelow.insert(found) } else { roots.insert(member) }
        }
        return (roots, memberSet.subtracting(hasMemberBelow))
    }
}
