import Foundation
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import NIOSSL

/// Opens the bench's TCP connections: login connections and WebSocket clients.
///
/// Each connection is placed on an event loop chosen round-robin (so the loop's recorder is
/// known up front) and, against IPv4 loopback, bound to one of 127.0.0.1...127.0.0.N: one
/// source address has only ~28k ephemeral ports towards one server port, fewer than a big
/// run needs, and the server's per-address login limit applies per source address too.
final class BenchConnector: Sendable {
    let target: BenchTarget
    let recorders: [LoopRecorder]
    private let serverAddress: SocketAddress
    /// Every node's target and address; client `i` uses node `i % count`.
    private let nodes: [(target: BenchTarget, address: SocketAddress)]
    private let localAddresses: [SocketAddress]
    private let sslContext: NIOSSLContext?
    private let roundRobin = NIOLockedValueBox(0)

    init(configuration: BenchConfiguration, group: MultiThreadedEventLoopGroup) throws {
        target = configuration.target
        recorders = group.makeIterator().map { LoopRecorder(eventLoop: $0) }
        nodes = try configuration.nodes.map { node in
            (node, try SocketAddress.makeAddressResolvingHost(node.host == "localhost" ? "127.0.0.1" : node.host, port: node.port))
        }
        serverAddress = nodes[0].address
        #if os(Linux)
        // Linux routes all of 127.0.0.0/8 to the loopback device; macOS configures only
        // 127.0.0.1, and the socket option below is Linux's.
        if target.isIPv4Loopback, configuration.localIPs > 1 {
            localAddresses = try (1...configuration.localIPs).map { try SocketAddress(ipAddress: "127.0.0.\($0)", port: 0) }
        } else {
            localAddresses = []
        }
        #else
        localAddresses = []
        #endif
        if target.useTLS {
            var tls = TLSConfiguration.makeClientConfiguration()
            if configuration.insecure { tls.certificateVerification = .none }
            sslContext = try NIOSSLContext(configuration: tls)
        } else {
            sslContext = nil
        }
    }

    private func nextSlot() -> Int {
        roundRobin.withLockedValue { value in
            defer { value &+= 1 }
            return value
        }
    }

    private func bootstrap(slot: Int) -> (ClientBootstrap, LoopRecorder) {
        let recorder = recorders[slot % recorders.count]
        var bootstrap = ClientBootstrap(group: recorder.eventLoop).connectTimeout(.seconds(10))
        if !localAddresses.isEmpty {
            // IP_BIND_ADDRESS_NO_PORT (24): choose the port at connect() time, per 4-tuple, so
            // binding the address does not reserve a port for every destination.
            bootstrap = bootstrap
                .channelOption(ChannelOptions.Types.SocketOption(level: .ip, name: .init(rawValue: 24)), value: 1)
                .bind(to: localAddresses[slot % localAddresses.count])
        }
        return (bootstrap, recorder)
    }

    private var serverHostname: String? { Self.serverHostname(of: target) }

    private static func serverHostname(of target: BenchTarget) -> String? {
        target.hostIsIPAddress ? nil : target.host
    }

    /// A keep-alive connection for `POST /login`.
    func connectLogin() async throws -> (any Channel, HTTPResponseReader) {
        let (bootstrap, _) = self.bootstrap(slot: nextSlot())
        let reader = HTTPResponseReader()
        let sslContext = self.sslContext
        let serverHostname = self.serverHostname
        let channel = try await bootstrap.channelInitializer { channel in
            channel.eventLoop.makeCompletedFuture {
                if let sslContext {
                    try channel.pipeline.syncOperations.addHandler(try NIOSSLClientHandler(context: sslContext, serverHostname: serverHostname))
                }
                try channel.pipeline.syncOperations.addHandler(reader)
            }
        }.connect(to: serverAddress).get()
        return (channel, reader)
    }

    /// Connects, upgrades with `ticket` and returns the client once it speaks WebSocket.
    func connectWebSocket(index: Int, room: String, ticket: String) async throws -> BenchClient {
        let (bootstrap, recorder) = self.bootstrap(slot: nextSlot())
        let (target, serverAddress) = nodes[index % nodes.count]
        let key = Data((0..<16).map { _ in UInt8.random(in: 0...255) }).base64EncodedString()
        let request = "GET \(target.pathPrefix)/ws?ticket=\(Self.percentEncoded(ticket)) HTTP/1.1\r\nHost: \(target.hostHeader)\r\n"
            + "Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: \(key)\r\nSec-WebSocket-Version: 13\r\n\r\n"
        let upgraded = recorder.eventLoop.makePromise(of: Void.self)
        let handler = BenchWebSocketHandler(index: index, room: room, upgradeRequest: request, recorder: recorder, upgradePromise: upgraded)
        let sslContext = self.sslContext
        let serverHostname = Self.serverHostname(of: target)
        let channel: any Channel
        do {
            channel = try await bootstrap.channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    if let sslContext {
                        try channel.pipeline.syncOperations.addHandler(try NIOSSLClientHandler(context: sslContext, serverHostname: serverHostname))
                    }
                    try channel.pipeline.syncOperations.addHandler(handler)
                }
            }.connect(to: serverAddress).get()
        } catch {
            upgraded.fail(error)  // nobody else will complete it
            throw error
        }
        try await upgraded.futureResult.get()
        return BenchClient(index: index, room: room, channel: channel, handler: handler)
    }

    /// Tickets are opaque; escape anything outside the URL-safe set.
    static func percentEncoded(_ text: String) -> String {
        var allowed = CharacterSet.alphanumerics
        allowed.insert(charactersIn: "-._~")
        return text.addingPercentEncoding(withAllowedCharacters: allowed) ?? text
    }
}
