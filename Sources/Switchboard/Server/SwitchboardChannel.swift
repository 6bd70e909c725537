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
        let decision: NIOLockedValueBox<Decision>
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
    enum Decision {
        case undecided
        case accepted(user: String, mode: ConnectionMode, deflate: PerMessageDeflate.Parameters?)
        case refused(HTTPResponse.Status, String)
    }

    public func setup(channel: any Channel, logger: Logger) -> EventLoopFuture<Value> {
        channel.eventLoop.makeCompletedFuture {
            try Self.tuneChildChannel(channel, readBufferSize: configuration.readBufferSize)
            // Slowloris: a client that does not finish its request head in time is dropped.
            // Both paths below cancel this once the head has arrived.
            let handshakeTimer = channel.eventLoop.scheduleTask(in: configuration.connection.handshakeTimeout) {
                channel.close(promise: nil)
            }
            let decision = NIOLockedValueBox(Decision.undecided)
            let configuration = self.configuration
            let upgradeConfiguration = NIOTypedHTTPServerUpgradeConfiguration(
                upgraders: [makeUpgrader(decision: decision, handshakeTimer: handshakeTimer, logger: logger)],
                notUpgradingCompletionHandler: { channel in
                    handshakeTimer.cancel()
                    return channel.eventLoop.makeCompletedFuture {
                        try Self.serveHTTP(on: channel, decision: decision, configuration: configuration, logger: logger)
                    }
                }
            )
            let result = try channel.pipeline.syncOperations.configureUpgradableHTTPServerPipeline(
                configuration: Self.pipelineConfiguration(upgrade: upgradeConfiguration, http1: configuration.http1)
            )
            return Value(upgradeResult: result, channel: channel, decision: decision)
        }
    }

    /// Before the first read, so the buffer NIO keeps for this channel is the small one.
    private static func tuneChildChannel(_ channel: any Channel, readBufferSize size: Int) throws {
        guard let options = channel.syncOptions else { return }
        try options.setOption(
            ChannelOptions.recvAllocator,
            value: AdaptiveRecvByteBufferAllocator(minimum: min(64, size), initial: size, maximum: max(size, 65536))
        )
        try options.setOption(ChannelOptions.maxMessagesPerRead, value: SwitchboardServerConfiguration.maxMessagesPerRead)
    }

    /// NIO's HTTP/1.1 server pipeline set up as Hummingbird's `HTTP1Channel` sets up its own:
    /// no pipelining assistance (`NIOAsyncChannel` takes requests one at a time), no error
    /// handler (Hummingbird answers errors), no outbound header validation (HTTP types
    /// already validate), and Hummingbird's decoder limits.
    private static func pipelineConfiguration(
        upgrade: NIOTypedHTTPServerUpgradeConfiguration<UpgradeResult>, http1: HTTP1Channel.Configuration
    ) -> NIOUpgradableHTTPServerPipelineConfiguration<UpgradeResult> {
        var pipeline = NIOUpgradableHTTPServerPipelineConfiguration<UpgradeResult>(upgradeConfiguration: upgrade)
        pipeline.enablePipelining = false
        pipeline.enableErrorHandling = false
        pipeline.enableResponseHeaderValidation = false
        pipeline.decoderConfiguration.maxHeaderFieldSize = http1.httpDecoder.maxHeaderFieldSize
        pipeline.decoderConfiguration.maxHeaderListSize = http1.httpDecoder.maxHeaderListSize
        pipeline.decoderConfiguration.maxHeaderFieldCount = http1.httpDecoder.maxHeaderFieldCount
        return pipeline
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

    /// How many connections the listener accepts per event-loop pass. NIO's default is 4: a
    /// pass that writes to every member of a large room (a join storm's presence events) is
    /// long, and at 4 a pass the listen queue filled up and new clients waited seconds to be
    /// accepted (8,000 joining one room: 122 s at 4, 32 s at 64; BENCHMARKS.md).
    public static let acceptsPerLoopPass: UInt = 64

    /// Tunes the listening channel for Switchboard; call it from Hummingbird's
    /// `onServerRunning`, which hands over the listener.
    public static func configureListener(_ listener: any Channel) async {
        do {
            try await listener.setOption(ChannelOptions.maxMessagesPerRead, value: acceptsPerLoopPass).get()
        } catch {
            // A listener that cannot take the option still works, with NIO's default.
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
