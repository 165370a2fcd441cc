import Benchmark
import Glibc
import MemoryMonitor
import MemoryMonitorHTTP
import Synchronization

/// A group of cheap sleepers renamed `bench-worker-<pid>-<tag>` (argv[0]), started for a
/// benchmark's setup and stopped by pid in its teardown.
final class SleeperGroup: Sendable {
    let tag: String
    let count: Int
    /// Sleepers by tag, for the whole process: setup may run more than once, and the benchmark
    /// definitions may be evaluated more than once, but each group is started once.
    private static let running = Mutex<[String: [pid_t]]>([:])

    init(tag: String, count: Int) {
        self.tag = tag
        self.count = count
    }

    /// The process's own pid is part of the name: sleepers another benchmark process started (and
    /// left running until their 600 s sleep ends) never match.
    var name: String { "bench-worker-\(getpid())-\(tag)" }
    var pattern: String { "^\(name) " }

    /// Starts the sleepers once.
    func start() {
        guard Self.running.withLock({ $0[tag] == nil }) else { return }
        var started: [pid_t] = []
        for _ in 0..<count {
            var pid: pid_t = 0
            let words: [String] = [name, "600"]
            let argv: [UnsafeMutablePointer<CChar>?] = words.map { strdup($0) } + [nil]
            defer { argv.forEach { free($0) } }
            if posix_spawn(&pid, "/bin/sleep", nil, nil, argv, environ) == 0 { started.append(pid) }
        }
        // posix_spawn returns once the child has its new memory map, before the kernel has set up
        // its arguments: for a moment /proc/PID/cmdline is empty, and a sample would rightly leave
        // the sleeper out. Wait (at most 5 s) until every sleeper shows its name.
        let deadline = ContinuousClock.now + .seconds(5)
        for pid in started {
            while readText("/proc/\(pid)/cmdline")?.hasPrefix(name) != true && ContinuousClock.now < deadline {
                var pause = timespec(tv_sec: 0, tv_nsec: 1_000_000)
                nanosleep(&pause, nil)
            }
        }
        Self.running.withLock { $0[tag] = started }
    }

    /// The sleepers started and not stopped, for diagnostics.
    var pids: [pid_t] { Self.running.withLock { $0[tag] ?? [] } }

    func stop() {
        for pid in Self.running.withLock({ $0.removeValue(forKey: tag) ?? [] }) {
            kill(pid, SIGKILL)
            var status: Int32 = 0
            waitpid(pid, &status, 0)
        }
    }
}

/// A whole small file with plain system calls (the library's own reader is internal).
func readText(_ path: String) -> String? {
    let fd = open(path, O_RDONLY | O_CLOEXEC)
    guard fd >= 0 else { return nil }
    defer { close(fd) }
    var bytes = [UInt8](repeating: 0, count: 16384)
    var filled = 0
    while filled < bytes.count {
        let n = bytes.withUnsafeMutableBytes { read(fd, $0.baseAddress! + filled, $0.count - filled) }
        if n <= 0 { break }
        filled += n
    }
    return String(decoding: bytes[..<filled], as: UTF8.self)
}

let benchmarks: @Sendable () -> Void = {
    Benchmark.defaultConfiguration = .init(
        metrics: [.wallClock, .mallocCountTotal, .instructions],
        maxDuration: .seconds(2),
        maxIterations: 100_000
    )

    // What the harness itself counts per iteration, to subtract from the rows below.
    Benchmark("baseline: empty iteration") { benchmark in
        for _ in benchmark.scaledIterations { blackHole(0) }
    }

    // One sample of the monitor's own process (what a default check reads).
    let own = Sampler()
    Benchmark("sample own process") { benchmark in
        for _ in benchmark.scaledIterations { blackHole(own.sample()) }
    }

    Benchmark("allocator statistics (mallinfo2)") { benchmark in
        for _ in benchmark.scaledIterations { blackHole(AllocatorStatistics.current()) }
    }

    let ownWithoutAllocator = Sampler(collectsAllocatorStatistics: false)
    Benchmark("sample own process without allocator statistics") { benchmark in
        for _ in benchmark.scaledIterations { blackHole(ownWithoutAllocator.sample()) }
    }

    Benchmark("read and parse /proc/meminfo") { benchmark in
        for _ in benchmark.scaledIterations { blackHole(readText("/proc/meminfo").flatMap(MemInfo.parse)) }
    }

    let meminfoText = readText("/proc/meminfo") ?? ""
    Benchmark("parse /proc/meminfo text only") { benchmark in
        for _ in benchmark.scaledIterations { blackHole(MemInfo.parse(meminfoText)) }
    }
    Benchmark("read /proc/meminfo only") { benchmark in
        for _ in benchmark.scaledIterations { blackHole(readText("/proc/meminfo")) }
    }
    let statusText = readText("/proc/self/status") ?? ""
    Benchmark("parse /proc/self/status text only") { benchmark in
        for _ in benchmark.scaledIterations { blackHole(ProcessStatus.parse(statusText)) }
    }

    // One sample of another process (the benchmark's parent shell, always there).
    let other = Sampler(target: .pid(getppid()))
    Benchmark("sample another process") { benchmark in
        for _ in benchmark.scaledIterations { blackHole(other.sample()) }
    }

    // Rendering every family the exporter serves, after one real check.
    let monitor = MemoryMonitor(configuration: MonitorConfiguration())
    monitor.check()
    Benchmark("render text 0.0.4") { benchmark in
        for _ in benchmark.scaledIterations {
            blackHole(ExpositionRenderer.render(monitor.metricFamilies(), format: .prometheusText))
        }
    }
    Benchmark("render OpenMetrics") { benchmark in
        for _ in benchmark.scaledIterations {
            blackHole(ExpositionRenderer.render(monitor.metricFamilies(), format: .openMetrics))
        }
    }

    Benchmark("render protobuf") { benchmark in
        for _ in benchmark.scaledIterations {
            blackHole(ExpositionRenderer.render(monitor.metricFamilies(), format: .protobuf))
        }
    }

    let body = ExpositionRenderer.render(monitor.metricFamilies(), format: .prometheusText)
    Benchmark("gzip the text body") { benchmark in
        for _ in benchmark.scaledIterations { blackHole(Gzip.compress(body)) }
    }
    let protobufBody = ExpositionRenderer.render(monitor.metricFamilies(), format: .protobuf)
    Benchmark("gzip the protobuf body") { benchmark in
        for _ in benchmark.scaledIterations { blackHole(Gzip.compress(protobufBody)) }
    }

    // A check of a group (`--process-match`): every command line on the host is matched, and
    // each member's status, descriptors and (every 30 s, within its budget) Pss are read.
    for size in [10, 100] {
        let group = SleeperGroup(tag: "\(size)", count: size)
        let sampler = Sampler(target: .processMatch(group.pattern), collectsAllocatorStatistics: false)
        Benchmark(
            "sample a group of \(size) processes",
            configuration: .init(metrics: [.wallClock, .mallocCountTotal, .instructions], maxDuration: .seconds(3), maxIterations: 2000),
            closure: { benchmark in
                for _ in benchmark.scaledIterations {
                    let sample = sampler.sample()
                    if sample.process?.pids.count != size {
                        // Which sleepers the sample left out, and what /proc says of them now.
                        let missing = Set(group.pids).subtracting(sample.process?.pids ?? []).sorted()
                        let states = missing.map { "\($0): \(readText("/proc/\($0)/stat")?.prefix(80) ?? "no /proc entry")" }
                        group.stop()
                        fatalError("the group has \(sample.process?.pids.count ?? 0) members, not \(size): \(sample.unavailable); missing \(states)")
                    }
                    blackHole(sample)
                }
            },
            setup: { group.start() },
            teardown: { group.stop() })
    }

    // The leak tracker at 1 s checks with a full default window (63 settled slots and the newest
    // check, three fits), time moving on 1 s per iteration so slots settle and leave as in the
    // exporter. Building each iteration's sample is part of the figure.
    Benchmark("leak tracker: one check, full window") { benchmark in
        var tracker = GrowthTracker(configuration: MonitorConfiguration())
        var t = 1_800_000_000.0
        func sample(_ t: Double) -> Sample {
            // Slow growth with page-sized noise, so every slope is new.
            let noise = UInt64(t.truncatingRemainder(dividingBy: 7) * 4096)
            var status = ProcessStatus(name: "bench", residentBytes: 200_000_000 + UInt64(t - 1_800_000_000) * 1000 + noise)
            status.anonymousBytes = 150_000_000 + UInt64(t - 1_800_000_000) * 900 + noise
            return Sample(
                timestamp: t, targetDescription: "bench", process: .init(pid: 1, status: status),
                host: MemInfo(totalBytes: 1 << 34, availableBytes: 1 << 33), cgroup: nil, hostPressure: nil, allocator: nil,
                exporter: .init())
        }
        for _ in 0..<400 {
            t += 1
            _ = tracker.observe(sample(t), level: .healthy)
        }
        benchmark.startMeasurement()
        for _ in benchmark.scaledIterations {
            t += 1
            blackHole(tracker.observe(sample(t), level: .healthy))
        }
    }

    // The same with a trend alert open (a leak 3.5 minutes from the warning threshold after 20
    // minutes of one line), over 100 checks at 1 s: the slopes over two and four windows that a
    // trend alert's time counts are computed once per long slot (19 s), five or six times here,
    // as in the exporter. The figure is for the 100 checks.
    Benchmark("leak tracker: 100 checks, trend alert open") { benchmark in
        var configuration = MonitorConfiguration()
        configuration.thresholds.memoryWarningMB = 460
        var tracker = GrowthTracker(configuration: configuration)
        var t = 1_800_000_000.0
        func sample(_ t: Double) -> Sample {
            let noise = UInt64(t.truncatingRemainder(dividingBy: 7) * 4096)
            let status = ProcessStatus(name: "bench", residentBytes: 200_000_000 + UInt64(t - 1_800_000_000) * 200_000 + noise)
            return Sample(
                timestamp: t, targetDescription: "bench", process: .init(pid: 1, status: status),
                host: MemInfo(totalBytes: 1 << 34, availableBytes: 1 << 33), cgroup: nil, hostPressure: nil, allocator: nil,
                exporter: .init())
        }
        var open = false
        for _ in 0..<1200 {
            t += 1
            open = tracker.observe(sample(t), level: .healthy).0.trend != nil
        }
        precondition(open, "the benchmark's leak should have a trend alert open")
        benchmark.startMeasurement()
        for _ in benchmark.scaledIterations {
            for _ in 0..<100 {
                t += 1
                blackHole(tracker.observe(sample(t), level: .healthy))
            }
        }
    }

    Benchmark("one full check") { benchmark in
        for _ in benchmark.scaledIterations { blackHole(monitor.check()) }
    }

    // A scrape answered from the cache: the sample is fresh, the bodies are built.
    let cache = ExpositionCache(monitor: monitor, maxAge: .seconds(3600))
    _ = cache.freshBody(format: .openMetrics, acceptsGzip: true)
    Benchmark("scrape served from cache (OpenMetrics, gzip)") { benchmark in
        for _ in benchmark.scaledIterations { blackHole(cache.freshBody(format: .openMetrics, acceptsGzip: true)) }
    }
    _ = cache.freshBody(format: .protobuf, acceptsGzip: true)
    Benchmark("scrape served from cache (protobuf, gzip)") { benchmark in
        for _ in benchmark.scaledIterations { blackHole(cache.freshBody(format: .protobuf, acceptsGzip: true)) }
    }
}
