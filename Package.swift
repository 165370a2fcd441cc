// swift-tools-version: 6.1
import PackageDescription

let package = Package(
    name: "memory-monitor",
    platforms: [.macOS(.v15)],
    products: [
        .library(name: "MemoryMonitor", targets: ["MemoryMonitor"]),
        .library(name: "MemoryMonitorHTTP", targets: ["MemoryMonitorHTTP"]),
        .executable(name: "memory-monitor", targets: ["memory-monitor"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.3"),
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/async-http-client", from: "1.37.0"),
        .package(url: "https://github.com/apple/swift-nio-ssl", from: "2.37.6"),
        .package(url: "https://github.com/apple/swift-nio-extras", from: "1.35.2"),
        // Without its default Foundation trait: the library stays on FoundationEssentials-free code.
        .package(url: "https://github.com/swiftlang/swift-subprocess", from: "1.0.2", traits: []),
        // FilePath for Subprocess (already a dependency of swift-subprocess).
        .package(url: "https://github.com/apple/swift-system", from: "1.8.1"),
        // Protobuf exposition. Without its default traits (Foundation stream helpers); the code
        // generated from Sources/MemoryMonitor/Metrics/Protobuf/metrics.proto is committed.
        .package(url: "https://github.com/apple/swift-protobuf", from: "1.39.0", traits: []),
    ],
    targets: [
        .systemLibrary(name: "CZlib", path: "Sources/CZlib", pkgConfig: "zlib", providers: [.apt(["zlib1g-dev"])]),
        .systemLibrary(name: "CMalloc", path: "Sources/CMalloc"),
        // Linux calls Swift's Glibc module lacks: pidfds (signals that cannot reach a reused pid), fallocate.
        .systemLibrary(name: "CLinux", path: "Sources/CLinux"),
        .systemLibrary(name: "CCrypt", path: "Sources/CCrypt", providers: [.apt(["libcrypt-dev"])]),
        .target(
            name: "MemoryMonitor",
            dependencies: [
                "CMalloc",
                "CLinux",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "Subprocess", package: "swift-subprocess"),
                .product(name: "SystemPackage", package: "swift-system"),
                .product(name: "SwiftProtobuf", package: "swift-protobuf"),
            ],
            exclude: ["Metrics/Protobuf/metrics.proto"],
            plugins: ["RevisionStamp"]
        ),
        // The git revision, stamped at build time (memory_monitor_build_info{revision}).
        .plugin(name: "RevisionStamp", capability: .buildTool(), path: "Sources/RevisionStamp"),
        .target(
            name: "MemoryMonitorHTTP",
            dependencies: [
                "MemoryMonitor",
                "CZlib",
                "CCrypt",
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOExtras", package: "swift-nio-extras"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ]
        ),
        // Replays a memory trace through the alert evaluation (scripts/alert-quality.py); not shipped.
        .executableTarget(
            name: "alert-replay",
            dependencies: ["MemoryMonitor"],
            path: "Sources/alert-replay"
        ),
        .executableTarget(
            name: "memory-monitor",
            dependencies: [
                "MemoryMonitor",
                "MemoryMonitorHTTP",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
            ]
        ),
        .testTarget(
            name: "MemoryMonitorTests",
            dependencies: ["MemoryMonitor", "TestSupport", .product(name: "AsyncHTTPClient", package: "async-http-client"), .product(name: "SwiftProtobuf", package: "swift-protobuf")],
            exclude: ["Fixtures"]
        ),
        .target(
            name: "TestSupport",
            dependencies: ["MemoryMonitor"],
            path: "Tests/TestSupport"
        ),
        .testTarget(
            name: "MemoryMonitorHTTPTests",
            dependencies: [
                "MemoryMonitorHTTP", "MemoryMonitor", "TestSupport", .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"), .product(name: "NIOEmbedded", package: "swift-nio"),
            ]
        ),
        .testTarget(
            name: "IntegrationTests",
            dependencies: ["MemoryMonitor", "MemoryMonitorHTTP", "TestSupport"]
        ),
    ],
    swiftLanguageModes: [.v6]
)
