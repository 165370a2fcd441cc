/// Where the cgroup file systems are mounted, from /proc/self/mountinfo.
public struct CgroupMounts: Sendable, Equatable {
    /// Mount point of the cgroup v2 (unified) hierarchy, e.g. /sys/fs/cgroup or /sys/fs/cgroup/unified.
    public var unified: String?
    /// Mount point of the cgroup v1 hierarchy that carries the memory controller.
    public var memoryV1: String?

    public init(unified: String? = nil, memoryV1: String? = nil) {
        self.unified = unified
        self.memoryV1 = memoryV1
    }

    /// Parses mountinfo: fields 5 (mount point) and, after the " - " separator, the type and options.
    public static func parse(_ mountinfo: String) -> CgroupMounts {
        var mounts = CgroupMounts()
        for line in mountinfo.split(separator: "\n") {
            let halves = line.split(separator: " - ", maxSplits: 1, omittingEmptySubsequences: false)
            guard halves.count == 2 else { continue }
            let left = halves[0].split(separator: " ")
            let right = halves[1].split(separator: " ")
            guard left.count >= 5, right.count >= 3 else { continue }
            let mountPoint = String(left[4])
            if right[0] == "cgroup2", mounts.unified == nil {
                mounts.unified = mountPoint
            } else if right[0] == "cgroup", mounts.memoryV1 == nil,
                right[2].split(separator: ",").contains("memory")
            {
                mounts.memoryV1 = mountPoint
            }
        }
        return mounts
    }
}
