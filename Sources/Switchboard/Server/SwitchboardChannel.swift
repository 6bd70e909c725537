import HTTPTypes
import Hummingbird
import HummingbirdCore
import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOHTTP1
import NIOHTTPTypes
import NIOHTTPTypesHTTP1
import NIOWebSocket

/// A Hummingbird child channel that serves HTTP/1.1 and hands upgraded WebSocket channels
/// to Switchboard's NIO handlers (not to Swift tasks), so fan-out stays on the event loops.
///
/// Adopt it in any Hummingbird application with
/// `Application(router: router, server: .switchboard(hub: hub, router: events) { request, channel in ... }, services: [hub])`
/// (the hub runs the connections' event handlers; see `Hub.run()`).
public struct SwitchboardChannel: ServerChildChannel, HTTPChannelHandler {
    public typealias ShouldUpgrade = @Sendable (HTTPRequest, any Channel) async -> UpgradeDecision

    public enum UpgradeResult: Sendable {
        /// The connection lives on its channel's pipeline, with no task of its own.
        case websocket(Connection)
        case notUpgraded(NIOAsyncChannel<HTTPRequestPart, HTTPResponsePart>)
        case refused(NIOAsyncChannel<HTTPRequestPart, HTTPResponsePart>, HTTPResponse.Status, String)
    }

    public struct Value: ServerChildChannelValue {
        let upgradeResult: EventLoopFuture<UpgradeResult>
        public let channel: any Channel
        fileprivate let decision: NIOLockedValueBox<Decision>
    }

    public let responder: HTTPChannelHandler.Responder
    let hub: Hub
    let router: EventRouter
    let configuration: SwitchboardServerConfiguration
    let gate: UpgradeGate

    public init(
        responder: @escaping HTTPChannelHandler.Responder,
        hub: Hub,
        router: EventRouter,
        configuration: SwitchboardServerConfiguration,
        upgradeGate: UpgradeGate
    ) {
        self.responder = Self.redirectingLateUpgrades(responder)
        self.hub = hub
        self.router = router
        self.configuration = configuration
        self.gate = upgradeGate
    }

    public init(
        responder: @escaping HTTPChannelHandler.Responder,
        hub: Hub,
        router: EventRouter,
        configuration: SwitchboardServerConfiguration,
        shouldUpgrade: @escaping ShouldUpgrade
    ) {
        self.init(responder: responder, hub: hub, router: router, configuration: configuration, upgradeGate: .async(shouldUpgrade))
    }

    /// The upgrade's outcome, decided through the `UpgradeGate` and used when building the
    /// pipeline or the refusal, and by `handle` to skip waiting for an accepted upgrade.
    fileprivate enum Decision {
        case undecided
        case accepted(user: String, mode: ConnectionMode, deflate: PerMessageDeflate.Parameters?)
        case refused(HTTPResponse.Status, String)
    }

    public func setup(channel: any Channel, logger: Logger) -> EventLoopFuture<Value> {
        channel.eventLoop.makeCompletedFuture {
            // Before the first read, so the buffer NIO keeps for this channel is the small one.
            if let options = channel.syncOptions {
                let size = configuration.readBufferSize
                try options.setOption(
                    ChannelOptions.recvAllocator,
                    value: AdaptiveRecvByteBufferAllocator(minimum: min(64, size), initial: size, maximum: max(size, 65536))
                )
                try options.setOption(ChannelOptions.maxMessagesPerRead, value: SwitchboardServerConfiguration.maxMessagesPerRead)
            }
            // Slowloris: a client that does not finish its request head in time is dropped.
            // Both upgrade paths below cancel this once the head has arrived.
            let handshakeTimer = channel.eventLoop.scheduleTask(in: configuration.connection.handshakeTimeout) {
                channel.close(promise: nil)
            }
            let decision = NIOLockedValueBox(Decision.undecided)
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
            let upgrader = WebSocketUpgrader<UpgradeResult>(
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

            let upgradeConfiguration = NIOTypedHTTPServerUpgradeConfiguration(
                upgraders: [upgrader],
                notUpgradingCompletionHandler: { channel in
                    handshakeTimer.cancel()
                    return channel.eventLoop.makeCompletedFuture {
                        try channel.pipeline.syncOperations.addHandler(HTTP1ToHTTPServerCodec(secure: false))
                        if let timeout = configuration.requestTimeout {
                            try channel.pipeline.syncOperations.addHandler(RequestDeadlineHandler(timeout: timeout))
                        }
                        try channel.pipeline.syncOperations.addHandlers(configuration.http1.additionalChannelHandlers())
                        try channel.pipeline.syncOperations.addHandler(
                            HTTPConnectionStateHandler(idleTimeout: configuration.http1.idleTimeout.map { .init($0) }, logger: logger)
                        )
                        // Half-closure on: Hummingbird finishes the writer to close a
                        // `Connection: close` exchange.
                        let asyncChannel = try NIOAsyncChannel<HTTPRequestPart, HTTPResponsePart>(
                            wrappingChannelSynchronously: channel,
                            configuration: .init(isOutboundHalfClosureEnabled: true)
                        )
                        if case .refused(let status, let message) = decision.withLockedValue({ $0 }) {
                            return UpgradeResult.refused(asyncChannel, status, message)
                        }
                        return UpgradeResult.notUpgraded(asyncChannel)
                    }
                }
            )
            var pipelineConfiguration = NIOUpgradableHTTPServerPipelineConfiguration<UpgradeResult>(
                upgradeConfiguration: upgradeConfiguration
            )
            pipelineConfiguration.enablePipelining = false
            pipelineConfiguration.enableErrorHandling = false
            pipelineConfiguration.enableResponseHeaderValidation = false
            pipelineConfiguration.decoderConfiguration.maxHeaderFieldSize = configuration.http1.httpDecoder.maxHeaderFieldSize
            pipelineConfiguration.decoderConfiguration.maxHeaderListSize = configuration.http1.httpDecoder.maxHeaderListSize
            pipelineConfiguration.decoderConfiguration.maxHeaderFieldCount = configuration.http1.httpDecoder.maxHeaderFieldCount
            let result = try channel.pipeline.syncOperations.configureUpgradableHTTPServerPipeline(
                configuration: pipelineConfiguration
            )
            return Value(upgradeResult: result, channel: channel, decision: decision)
        }
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

    public func handle(value: Value, logger: Logger) async {
        // An accepted upgrade needs nothing from this task: the pipeline serves the
        // connection. With the event-loop gate the decision is usually made before this task
        // runs, and returning now saves waiting for the upgrade's future (a hop to the event
        // loop and one back).
        if case .accepted = value.decision.withLockedValue({ $0 }) { return }
        do {
            switch try await value.upgradeResult.get() {
            case .notUpgraded(let http):
                await handleHTTP(asyncChannel: http, logger: logger)
            case .refused(let http, let status, let message):
                await Self.writeRefusal(http, status: status, message: message, logger: logger)
            case .websocket:
                // Nothing to wait for: the pipeline serves the connection, and its events
                // run on the hub's task group only while it has some.
                break
            }
        } catch {
            logger.debug("upgrade failed", metadata: ["error": "\(error)"])
        }
    }

    private static func writeRefusal(
        _ channel: NIOAsyncChannel<HTTPRequestPart, HTTPResponsePart>, status: HTTPResponse.Status, message: String, logger: Logger
    ) async {
        do {
            try await channel.executeThenClose { _, outbound in
                var body = ByteBuffer()
                body.writeString(#"{"error":"#)
                body.writeJSONString(message)
                body.writeString("}")
                let head = HTTPResponse(status: status, headerFields: [
                    .connection: "close",
                    .contentType: "application/json; charset=utf-8",
                    .contentLength: String(body.readableBytes),
                ])
                try await outbound.write(contentsOf: [.head(head), .body(body), .end(nil)])
            }
        } catch {
            logger.trace("could not write upgrade refusal", metadata: ["error": "\(error)"])
        }
    }

    /// How many connections the listener accepts per event-loop pass. NIO's default is 4: a
    /// pass that writes to every member of a large room (a join storm's presence events) is
    /// long, and at 4 a pass the listen queue filled up and new clients waited seconds to be
    /// accepted (8,000 joining one room: 122 s at 4, 32 s at 64; BENCHMARKS.md).
    public static let acceptsPerLoopPass: UInt = 64

    /// Tunes the listening channel for Switchboard; call it from Hummingbird's
    /// `onServerRunning`, which hands over the listener.
    public static func configureListener(_ listener: any Channel) async {
        do {
            try await listener.setOption(ChannelOptions.maxMessagesPerRead, value: acceptsPerLoopPass)
        } catch {
            // A listener that cannot take the option still works, with NIO's default.
        }
    }

    /// NIO only upgrades the first request of a connection. A WebSocket request that arrives
    /// later on a keep-alive connection is redirected to itself with `Connection: close`, so the
    /// client retries on a fresh connection (Hummingbird's WebSocket channel does the same).
    static func redirectingLateUpgrades(_ responder: @escaping HTTPChannelHandler.Responder) -> HTTPChannelHandler.Responder {
        struct RedirectThenClose: Error {}
        return { request, responseWriter, channel in
            if request.headers[.upgrade]?.lowercased() == "websocket" {
                var location = request.uri.path
                if let query = request.uri.query { location += "?\(query)" }
                let response = HTTPResponse(status: .temporaryRedirect, headerFields: [.connection: "close", .location: location])
                try await responseWriter.writeResponse(response)
                throw RedirectThenClose()
            }
            try await responder(request, responseWriter, channel)
        }
    }
}

extension HTTPServerBuilder {
    /// HTTP/1.1 with WebSocket connections served by Switchboard's hub.
    public static func switchboard(
        hub: Hub,
        router: EventRouter,
        configuration: SwitchboardServerConfiguration = .init(),
        shouldUpgrade: @escaping SwitchboardChannel.ShouldUpgrade
    ) -> HTTPServerBuilder {
        switchboard(hub: hub, router: router, configuration: configuration, upgradeGate: .async(shouldUpgrade))
    }

    /// HTTP/1.1 with WebSocket connections served by Switchboard's hub, with the upgrade
    /// decided where `upgradeGate` says (`.onEventLoop` is the cheaper one).
    public static func switchboard(
        hub: Hub,
        router: EventRouter,
        configuration: SwitchboardServerConfiguration = .init(),
        upgradeGate: UpgradeGate
    ) -> HTTPServerBuilder {
        .init { responder in
            SwitchboardChannel(
                responder: responder, hub: hub, router: router,
                configuration: configuration, upgradeGate: upgradeGate
            )
        }
    }
}
