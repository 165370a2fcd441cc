// swift-tools-version: 6.1
// The README's "Embedding in a Swift service" example as a package of its own: it sees only the
// library's public API, as a service that depends on memory-monitor would. scripts/test.sh builds
// it, and a test keeps the README's code identical to main.swift.
import PackageDescription

let package = Package(
    name: "EmbeddingExample",
    platforms: [.macOS(.v15)],
    dependencies: [
        .package(name: "memory-monitor", path: "../.."),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.13.0"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
    ],
    targets: [
        .executableTarget(
            name: "EmbeddingExample",
            dependencies: [
                .product(name: "MemoryMonitor", package: "memory-monitor"),
                .product(name: "MemoryMonitorHTTP", package: "memory-monitor"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Logging", package: "swift-log"),
            ]
        )
    ]
)
