/// Where the cgroup file systems are mounted, from /proc/self/mountinfo.
package struct CgroupMounts: Sendable, Equatable {
    /// Mount point of the cgroup v2 (unified) hierarchy, e.g. /sys/fs/cgroup or /sys/fs/cgroup/unified.
    package var unified: String?
    /// The cgroup the unified mount shows at its mount point (mountinfo field 4), "/" for the whole tree.
    package var unifiedRoot = "/"
    /// Mount point of the cgroup v1 hierarchy that carries the memory controller.
    package var memoryV1: String?
    /// The cgroup the v1 memory mount shows at its mount point.
    package var memoryV1Root = "/"

    package init(unified: String? = nil, unifiedRoot: String = "/", memoryV1: String? = nil, memoryV1Root: String = "/") {
        self.unified = unified
        self.unifiedRoot = unifiedRoot
        self.memoryV1 = memoryV1
        self.memoryV1Root = memoryV1Root
    }

    /// The cgroup mounts of another mount namespace, reached through `prefix` (`/proc/PID/root`):
    /// a sidecar sees its target's own cgroup there when its own mounts show only its own.
    package func reached(through prefix: String) -> CgroupMounts {
        CgroupMounts(unified: unified.map { prefix + $0 }, unifiedRoot: unifiedRoot, memoryV1: memoryV1.map { prefix + $0 }, memoryV1Root: memoryV1Root)
    }

    /// Parses mountinfo: fields 4 (root) and 5 (mount point) and, after the " - " separator, the type and options.
    package static func parse(_ mountinfo: String) -> CgroupMounts {
        var mounts = CgroupMounts()
        for line in mountinfo.split(separator: "\n") {
            let halves = line.split(separator: " - ", maxSplits: 1, omittingEmptySubsequences: false)
            guard halves.count == 2 else { continue }
            let left = halves[0].split(separator: " ")
            let right = halves[1].split(separator: " ")
            guard left.count >= 5, right.count >= 3 else { continue }
            let root = String(left[3])
            let mountPoint = String(left[4])
            if right[0] == "cgroup2", mounts.unified == nil {
                mounts.unified = mountPoint
                mounts.unifiedRoot = root
            } else if right[0] == "cgroup", mounts.memoryV1 == nil,
                right[2].split(separator: ",").contains("memory")
            {
                mounts.memoryV1 = mountPoint
                mounts.memoryV1Root = root
            }
        }
        return mounts
    }
}
