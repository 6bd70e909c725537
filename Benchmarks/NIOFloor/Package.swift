// swift-tools-version:6.1
// The floor SwiftNIO sets for connect cost and idle memory: a server that speaks just enough
// of the bench protocol (login, `/ws` upgrade, join ack) on NIO's own HTTP/1 and WebSocket
// handlers, with no application work. Measured with the same scripts as Switchboard and the
// peers (BENCHMARKS.md, ninth session); a package of its own so nothing else builds it.
import PackageDescription

let package = Package(
    name: "NIOFloor",
    dependencies: [
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.2"),
    ],
    targets: [
        .executableTarget(
            name: "nio-floor",
            dependencies: [
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOWebSocket", package: "swift-nio"),
            ]
        ),
    ]
)
