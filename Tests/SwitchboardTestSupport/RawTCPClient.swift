import NIOConcurrencyHelpers
import NIOCore
import NIOPosix

/// A bare TCP connection for tests that misbehave below HTTP: half-open handshakes,
/// slowloris dribbling.
public final class RawTCPClient: Sendable {
    public let channel: any Channel
    private let closed: NIOLockedValueBox<Bool>

    private init(channel: any Channel, closed: NIOLockedValueBox<Bool>) {
        self.channel = channel
        self.closed = closed
    }

    public static func connect(port: Int) async throws -> RawTCPClient {
        let closed = NIOLockedValueBox(false)
        let channel = try await ClientBootstrap(group: TestWebSocketClient.group).channelInitializer { channel in
            channel.eventLoop.makeCompletedFuture {
                try channel.pipeline.syncOperations.addHandler(CloseWatcher(closed: closed))
            }
        }.connect(host: "127.0.0.1", port: port).get()
        return RawTCPClient(channel: channel, closed: closed)
    }

    public func send(_ text: String) async throws {
        try await channel.writeAndFlush(ByteBuffer(string: text))
    }

    /// Whether the server has closed the connection.
    public var isClosed: Bool { closed.withLockedValue { $0 } }

    public func close() async { try? await channel.close() }

    final class CloseWatcher: ChannelInboundHandler {
        typealias InboundIn = ByteBuffer
        let closed: NIOLockedValueBox<Bool>
        init(closed: NIOLockedValueBox<Bool>) { self.closed = closed }
        func channelInactive(context: ChannelHandlerContext) { closed.withLockedValue { $0 = true } }
        func errorCaught(context: ChannelHandlerContext, error: any Error) { context.close(promise: nil) }
    }
}
