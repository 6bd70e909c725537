import NIOCore
import NIOHTTP1
import NIOWebSocket

/// NIO's WebSocket handshake, without NIO's frame codec.
///
/// `NIOTypedWebSocketServerUpgrader` checks the request and builds the answer (version,
/// key, `Sec-WebSocket-Accept`), then adds its `WebSocketFrameEncoder` and frame decoder
/// before it hands the channel over. Switchboard uses neither: the connection writes whole
/// prebuilt frames (`OutboundFrame`) and parses the client's frames itself
/// (`WebSocketFrameParser`), and the encoder cannot be taken out again once added. With
/// their contexts and buffers they were ~730 bytes on every idle connection. So this
/// upgrader borrows only the handshake from NIO's and installs the connection itself: the
/// upgraded pipeline is the socket and one handler.
struct WebSocketUpgrader<UpgradeResult: Sendable>: NIOTypedHTTPServerProtocolUpgrader {
    let supportedProtocol = "websocket"
    let requiredUpgradeHeaders: [String] = []
    private let handshake: NIOTypedWebSocketServerUpgrader<UpgradeResult>
    private let install: @Sendable (any Channel, HTTPRequestHead) -> EventLoopFuture<UpgradeResult>

    /// - Parameters:
    ///   - shouldUpgrade: As NIO's: the extra response headers, or nil to refuse.
    ///   - install: Builds the upgraded pipeline, after the response has been sent.
    init(
        shouldUpgrade: @escaping @Sendable (any Channel, HTTPRequestHead) -> EventLoopFuture<HTTPHeaders?>,
        install: @escaping @Sendable (any Channel, HTTPRequestHead) -> EventLoopFuture<UpgradeResult>
    ) {
        self.handshake = NIOTypedWebSocketServerUpgrader(
            shouldUpgrade: shouldUpgrade,
            upgradePipelineHandler: { channel, _ in channel.eventLoop.makeFailedFuture(ChannelError.inappropriateOperationForState) }
        )
        self.install = install
    }

    func buildUpgradeResponse(
        channel: any Channel, upgradeRequest: HTTPRequestHead, initialResponseHeaders: HTTPHeaders
    ) -> EventLoopFuture<HTTPHeaders> {
        handshake.buildUpgradeResponse(channel: channel, upgradeRequest: upgradeRequest, initialResponseHeaders: initialResponseHeaders)
    }

    func upgrade(channel: any Channel, upgradeRequest: HTTPRequestHead) -> EventLoopFuture<UpgradeResult> {
        install(channel, upgradeRequest)
    }
}
