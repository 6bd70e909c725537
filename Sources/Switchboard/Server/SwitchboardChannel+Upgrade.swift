import HTTPTypes
import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOHTTP1
import NIOHTTPTypesHTTP1

/// The upgrade path: the application's decision through the `UpgradeGate`, the extension
/// negotiation, and the connection's pipeline once the handshake's answer has gone out.
extension SwitchboardChannel {
    func makeUpgrader(
        decision: NIOLockedValueBox<Decision>, handshakeTimer: Scheduled<Void>, logger: Logger
    ) -> WebSocketUpgrader<UpgradeResult> {
        let hub = self.hub
        let router = self.router
        let configuration = self.configuration
        let gate = self.gate
        // Records the application's answer; the extra response headers, or nil to refuse.
        let settle: @Sendable (UpgradeDecision, HTTPRequestHead) -> HTTPHeaders? = { answer, head in
            var answer = answer
            if case .accept(_, .events) = answer, !hub.isAccepting {
                answer = .reject(.serviceUnavailable, "server is shutting down")
            }
            switch answer {
            case .accept(let user, let mode):
                let deflate = configuration.connection.compression.flatMap {
                    PerMessageDeflate.negotiate(offers: head.headers["Sec-WebSocket-Extensions"], configuration: $0)
                }
                decision.withLockedValue { $0 = .accepted(user: user, mode: mode, deflate: deflate) }
                var headers = HTTPHeaders()
                if let deflate { headers.add(name: "Sec-WebSocket-Extensions", value: deflate.headerValue) }
                return headers
            case .reject(let status, let message):
                decision.withLockedValue { $0 = .refused(status, message) }
                return nil
            }
        }
        return WebSocketUpgrader<UpgradeResult>(
            shouldUpgrade: { channel, head in
                handshakeTimer.cancel()
                let request: HTTPRequest
                do {
                    request = try HTTPRequest(head, secure: false, splitCookie: false)
                } catch {
                    decision.withLockedValue { $0 = .refused(.badRequest, "malformed request") }
                    return channel.eventLoop.makeSucceededFuture(nil)
                }
                switch gate {
                case .onEventLoop(let decide):
                    return channel.eventLoop.makeSucceededFuture(settle(decide(request, channel), head))
                case .async(let shouldUpgrade):
                    let promise = channel.eventLoop.makePromise(of: HTTPHeaders?.self)
                    promise.completeWithTask { settle(await shouldUpgrade(request, channel), head) }
                    return promise.futureResult
                }
            },
            install: { channel, _ in
                channel.eventLoop.makeCompletedFuture {
                    guard case .accepted(let user, let mode, let deflate) = decision.withLockedValue({ $0 }) else {
                        throw ChannelError.inappropriateOperationForState
                    }
                    do {
                        return try Self.installConnection(
                            on: channel, user: user, mode: mode, deflate: deflate, hub: hub, router: router,
                            configuration: configuration, logger: logger
                        )
                    } catch {
                        logger.debug("upgrade failed", metadata: ["error": "\(error)"])
                        throw error
                    }
                }
            }
        )
    }

    /// Builds the connection's pipeline after a successful upgrade: the socket, then
    /// `WebSocketConnectionHandler` alone (see `WebSocketUpgrader` for why no frame codec).
    private static func installConnection(
        on channel: any Channel, user: String, mode: ConnectionMode, deflate: PerMessageDeflate.Parameters?, hub: Hub,
        router: EventRouter, configuration: SwitchboardServerConfiguration, logger: Logger
    ) throws -> UpgradeResult {
        let pipeline = channel.pipeline.syncOperations

        var connectionConfiguration = configuration.connection
        if mode == .echo {
            guard configuration.echoEnabled else { throw ChannelError.inappropriateOperationForState }
            connectionConfiguration.maxInboundMessageSize = configuration.echoMaxMessageSize
            // Conformance suites send thousands of messages back to back, and messages as
            // large as the echo limit, which must fit the outbound queue to be echoed.
            connectionConfiguration.rateLimit = nil
            connectionConfiguration.maxQueuedBytes = max(connectionConfiguration.maxQueuedBytes, 2 * configuration.echoMaxMessageSize)
            connectionConfiguration.maxQueuedMessages = max(connectionConfiguration.maxQueuedMessages, 100_000)
        }
        // The frame limit is the connection's own endpoint's: the parser is made here, once
        // the request is known, so echo's larger limit never reaches `/ws` connections (a
        // frame header announcing 16 MiB there is refused at once, not buffered).
        let maxMessageSize = connectionConfiguration.maxInboundMessageSize
        // A compressed frame may be slightly larger than the message it carries.
        let maxFrameSize = connectionConfiguration.compression == nil
            ? maxMessageSize : PerMessageDeflate.maxCompressedSize(forMessageSize: maxMessageSize)
        if let size = connectionConfiguration.socketSendBufferSize {
            try channel.syncOptions?.setOption(ChannelOptions.socketOption(.so_sndbuf), value: SocketOptionValue(size))
        }
        let connection = Connection(
            user: user, remoteAddress: channel.remoteAddress, outbox: hub.outbox(for: channel.eventLoop)
        )
        let compression = try deflate.flatMap { parameters in
            try connectionConfiguration.compression.map {
                (
                    inflater: try PerMessageDeflate.Inflater(noContextTakeover: parameters.clientNoContextTakeover),
                    deflater: try PerMessageDeflate.Deflater(parameters: parameters, configuration: $0)
                )
            }
        }
        let inbox = mode == .echo ? nil : ConnectionInbox(
            connection: connection, router: router, hub: hub, logger: logger,
            bufferedMessages: connectionConfiguration.inboundBufferedMessages
        )
        let handler = WebSocketConnectionHandler(
            connection: connection, hub: hub, configuration: connectionConfiguration, maxFrameSize: maxFrameSize,
            logger: logger, inbox: inbox, compression: compression
        )
        connection.attach(handler)
        try pipeline.addHandler(handler)
        if mode == .events, !hub.register(connection) {
            handler.requestClose(.goingAway, reason: "server shutting down")
        }
        return .websocket(connection)
    }
}
