// swift-tools-version:6.1
// Micro-benchmarks for Switchboard's hot paths (ordo-one/benchmark). A package of its own,
// so nothing here is built or run by `swift test` of the root package.
// Run from this folder: swift package --allow-writing-to-package-directory benchmark
import PackageDescription

let package = Package(
    name: "SwitchboardBenchmarks",
    platforms: [.macOS(.v14)],
    dependencies: [
        // Named, so the product reference below does not depend on the checkout folder's name.
        .package(name: "switchboard", path: ".."),
        .package(url: "https://github.com/ordo-one/benchmark.git", from: "1.38.1", traits: ["MallocInterposer"]),
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.2"),
        .package(url: "https://github.com/hummingbird-project/hummingbird.git", from: "2.28.1", traits: []),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", from: "2.13.0"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
    ],
    targets: [
        .executableTarget(
            name: "SwitchboardBenchmarks",
            dependencies: [
                .product(name: "Switchboard", package: "switchboard"),
                .product(name: "SwitchboardChat", package: "switchboard"),
                .product(name: "SwitchboardProtocol", package: "switchboard"),
                .product(name: "Benchmark", package: "benchmark"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOWebSocket", package: "swift-nio"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Logging", package: "swift-log"),
            ],
            // The plugin finds benchmark targets by their folder's parent being `Benchmarks/`.
            path: "SwitchboardBenchmarks",
            plugins: [.plugin(name: "BenchmarkPlugin", package: "benchmark")]
        ),
    ]
)
