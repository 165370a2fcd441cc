import MemoryMonitor

extension Sample {
    /// A large host with half its memory free (1 TiB, 512 GiB available): thresholds in percent
    /// stay healthy unless a test means otherwise.
    public static let roomyHost = MemInfo(totalBytes: 1 << 40, availableBytes: 1 << 39)

    /// A sample for tests: a target process with this status (none when nil), this host, nothing
    /// else read.
    public static func fixture(
        timestamp: Double = 0, targetDescription: String = "t", pid: Int32 = 1, startTicks: UInt64? = nil, status: ProcessStatus?,
        host: MemInfo? = roomyHost, cgroup: CgroupMemory? = nil, cgroupDirectory: String? = nil
    ) -> Sample {
        Sample(
            timestamp: timestamp, targetDescription: targetDescription, process: status.map { .init(pid: pid, startTicks: startTicks, status: $0) },
            host: host, cgroup: cgroup, cgroupDirectory: cgroupDirectory, hostPressure: nil, allocator: nil, exporter: .init())
    }

    /// A sample whose target has this resident size.
    public static func fixture(timestamp: Double = 0, pid: Int32 = 1, startTicks: UInt64? = nil, residentBytes: UInt64, host: MemInfo? = roomyHost)
        -> Sample
    {
        fixture(timestamp: timestamp, pid: pid, startTicks: startTicks, status: ProcessStatus(name: "x", residentBytes: residentBytes), host: host)
    }
}

/// Waits until `condition` holds, checking every `interval`, for at most `seconds`; then says
/// whether it holds. For async tests: it sleeps with `Task.sleep`, never blocking its thread.
public func poll(seconds: Double = 10, every interval: Duration = .milliseconds(20), _ condition: () -> Bool) async -> Bool {
    let deadline = ContinuousClock.now + .seconds(seconds)
    while ContinuousClock.now < deadline {
        if condition() { return true }
        try? await Task.sleep(for: interval)
    }
    return condition()
}
