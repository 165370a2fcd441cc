// swift-tools-version: 6.1
import PackageDescription

// Benchmarks for memory-monitor with ordo-one/benchmark: wall time and allocations of one sample,
// rendering, gzip, one check and a scrape served from cache.
// Run: swift package --package-path Benchmarks benchmark
let package = Package(
    name: "memory-monitor-benchmarks",
    platforms: [.macOS(.v15)],
    dependencies: [
        .package(name: "memory-monitor", path: ".."),
        .package(url: "https://github.com/ordo-one/benchmark", from: "1.38.1", traits: ["MallocInterposer"]),
    ],
    targets: [
        .executableTarget(
            name: "MemoryMonitorBenchmarks",
            dependencies: [
                .product(name: "Benchmark", package: "benchmark"),
                .product(name: "MemoryMonitor", package: "memory-monitor"),
                .product(name: "MemoryMonitorHTTP", package: "memory-monitor"),
            ],
            path: "Benchmarks/MemoryMonitorBenchmarks",
            plugins: [.plugin(name: "BenchmarkPlugin", package: "benchmark")]
        )
    ],
    swiftLanguageModes: [.v6]
)
