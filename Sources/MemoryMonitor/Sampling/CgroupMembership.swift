/// Which cgroups a process belongs to, from /proc/PID/cgroup.
package struct CgroupMembership: Sendable, Equatable {
    /// The path in the unified hierarchy ("0::/path").
    package var unifiedPath: String?
    /// The path in the v1 hierarchy that has the memory controller ("N:memory:/path").
    package var memoryV1Path: String?

    package init(unifiedPath: String? = nil, memoryV1Path: String? = nil) {
        self.unifiedPath = unifiedPath
        self.memoryV1Path = memoryV1Path
    }

    /// Where one hierarchy's files for a process are.
    package enum Directory: Sendable, Equatable {
        /// The directory to read.
        case resolved(String)
        /// The host has no such hierarchy mounted, or the process is not in it.
        case absent
        /// The process is in a cgroup this monitor cannot see; the reason says why. Its figures
        /// are unknown: no other cgroup's are substituted.
        case unresolved(String)

        /// The directory, when resolved.
        package var path: String? {
            if case .resolved(let path) = self { return path }
            return nil
        }
    }

    /// Parses /proc/PID/cgroup.
    package static func parse(_ text: String) -> CgroupMembership {
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

    /// The directories to read for this membership. The path in /proc/PID/cgroup is relative to
    /// the reader's cgroup namespace root, and a mount shows the cgroup named by its mountinfo root:
    /// a path under that root maps into the mount; a path outside it (`/../x` from inside a
    /// cgroup namespace, or another container's cgroup) is unresolved, never the mount point.
    package func directories(in mounts: CgroupMounts, exists: (String) -> Bool) -> (unified: Directory, memoryV1: Directory) {
        (Self.resolve(mount: mounts.unified, root: mounts.unifiedRoot, path: unifiedPath, exists: exists),
         Self.resolve(mount: mounts.memoryV1, root: mounts.memoryV1Root, path: memoryV1Path, exists: exists))
    }

    static func resolve(mount: String?, root: String, path: String?, exists: (String) -> Bool) -> Directory {
        guard let mount, let path else { return .absent }
        let outside = path == "/.." || path.hasPrefix("/../")
        let relative: Substring
        // A mount that shows exactly this cgroup (also one outside this monitor's cgroup
        // namespace, as a target's own mount of its cgroup is: root and path both `/../x`).
        if path == root {
            relative = "/"
        } else if outside {
            return .unresolved("cgroup \(path) is outside this monitor's cgroup namespace")
        } else if root == "/" {
            relative = path[...]
        } else if path.hasPrefix(root + "/") {
            relative = path.dropFirst(root.count)
        } else {
            return .unresolved("cgroup \(path) is not under the mounted cgroup \(root) at \(mount)")
        }
        let joined = relative == "/" ? mount : mount + relative
        return exists(joined) ? .resolved(joined) : .unresolved("cgroup directory \(joined) does not exist or is not visible")
    }
}
