/// Which cgroups a process belongs to, from /proc/PID/cgroup.
public struct CgroupMembership: Sendable, Equatable {
    /// The path in the unified hierarchy ("0::/path").
    public var unifiedPath: String?
    /// The path in the v1 hierarchy that has the memory controller ("N:memory:/path").
    public var memoryV1Path: String?

    public init(unifiedPath: String? = nil, memoryV1Path: String? = nil) {
        self.unifiedPath = unifiedPath
        self.memoryV1Path = memoryV1Path
    }

    /// Parses /proc/PID/cgroup.
    public static func parse(_ text: String) -> CgroupMembership {
        var membership = CgroupMembership()
        KeyValueLines.forEachLine(text) { line in
            let fields = line.split(separator: ":", maxSplits: 2, omittingEmptySubsequences: false)
            guard fields.count == 3 else { return }
            if fields[0] == "0" && fields[1].isEmpty {
                membership.unifiedPath = String(fields[2])
            } else if fields[1].split(separator: ",").contains("memory") {
                membership.memoryV1Path = String(fields[2])
            }
        }
        return membership
    }

    /// The directories to read for this membership: the mount point joined with the path when
    /// that directory exists, else the mount point itself (inside a cgroup namespace or a
    /// container that mounts only its own cgroup, the path names a directory that is not visible).
    public func directories(in mounts: CgroupMounts, exists: (String) -> Bool) -> (unified: String?, memoryV1: String?) {
        func resolve(_ mount: String?, _ path: String?) -> String? {
            guard let mount else { return nil }
            guard let path, path != "/" else { return mount }
            let joined = mount + path
            return exists(joined) ? joined : mount
        }
        return (resolve(mounts.unified, unifiedPath), resolve(mounts.memoryV1, memoryV1Path))
    }
}
