import Benchmark
import Glibc
import MemoryMonitor
import MemoryMonitorHTTP

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
            blackHole(ExpositionRenderer.render(monitor.registry.snapshot(), format: .prometheusText))
        }
    }
    Benchmark("render OpenMetrics") { benchmark in
        for _ in benchmark.scaledIterations {
            blackHole(ExpositionRenderer.render(monitor.registry.snapshot(), format: .openMetrics))
        }
    }

    Benchmark("render protobuf") { benchmark in
        for _ in benchmark.scaledIterations {
            blackHole(ExpositionRenderer.render(monitor.registry.snapshot(), format: .protobuf))
        }
    }

    let body = ExpositionRenderer.render(monitor.registry.snapshot(), format: .prometheusText)
    Benchmark("gzip the text body") { benchmark in
        for _ in benchmark.scaledIterations { blackHole(Gzip.compress(body)) }
    }
    let protobufBody = ExpositionRenderer.render(monitor.registry.snapshot(), format: .protobuf)
    Benchmark("gzip the protobuf body") { benchmark in
        for _ in benchmark.scaledIterations { blackHole(Gzip.compress(protobufBody)) }
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
