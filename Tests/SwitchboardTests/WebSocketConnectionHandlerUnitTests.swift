import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOEmbedded
import NIOWebSocket
import SwitchboardTestSupport
import Testing

@testable import Switchboard

/// The handler's own rules, on an embedded channel: what it writes, when it closes, and what
/// the hub is told, with time advanced by hand instead of waited for.
@Suite("WebSocketConnectionHandler")
struct WebSocketConnectionHandlerUnitTests {
    private final class Fixture {
        let loop = EmbeddedEventLoop()
        let channel: EmbeddedChannel
        let hub: Hub
        let closeCodes = NIOLockedValueBox<[CloseCode]>([])
        private(set) var connection: Connection?
        private(set) weak var handler: WebSocketConnectionHandler?

        init(configuration: ConnectionConfiguration = ConnectionConfiguration(), router: EventRouter? = nil) throws {
            let codes = closeCodes
            hub = Hub(onDisconnect: { _, code in codes.withLockedValue { $0.append(code) } })
            channel = EmbeddedChannel(loop: loop)
            let connection = Connection(user: "u", remoteAddress: nil, outbox: hub.outbox(for: loop))
            let inbox = router.map {
                ConnectionInbox(connection: connection, router: $0, hub: hub, logger: Logger(label: "test"), bufferedMessages: 64)
            }
            let handler = WebSocketConnectionHandler(
                connection: connection, hub: hub, configuration: configuration, maxFrameSize: 65536,
                logger: Logger(label: "test"), inbox: inbox
            )
            connection.attach(handler)
            try channel.pipeline.syncOperations.addHandler(handler)
            try channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 1)).wait()
            #expect(hub.register(connection))
            self.connection = connection
            self.handler = handler
        }

        /// Bytes from the client, as masked frames.
        func receive(opcode: UInt8, _ payload: [UInt8], masked: Bool = true) throws {
            let bytes = TestWebSocketClient.encodeFrame(opcode: opcode, payload: payload, masked: masked)
            try channel.writeInbound(ByteBuffer(bytes: bytes))
        }

        /// Every frame written to the client so far, as (opcode, payload).
        func written() throws -> [(opcode: UInt8, payload: [UInt8])] {
            var frames: [(UInt8, [UInt8])] = []
            while var buffer = try channel.readOutbound(as: ByteBuffer.self) {
                var parser = WebSocketFrameParser(maxFrameSize: 1 << 24)
                parser.append(buffer)
                buffer.clear()
                while let frame = try parser.next() {
                    frames.append((UInt8(webSocketOpcode: frame.opcode), Array(frame.data.readableBytesView)))
                }
            }
            return frames
        }

        /// The close code of each close frame written so far.
        func closeFramesWritten() throws -> [UInt16] {
            try written().filter { $0.opcode == 0x8 }.map { UInt16($0.payload[0]) << 8 | UInt16($0.payload[1]) }
        }

        func forgetConnection() { connection = nil }
    }

    @Test("a room held during a join that collects more than maxQueuedMessages frames drops the joiner with 4008, and nothing held is written")
    func heldRoomOverflow() throws {
        var configuration = ConnectionConfiguration()
        configuration.maxQueuedMessages = 4
        let fixture = try Fixture(configuration: configuration)
        let connection = try #require(fixture.connection)
        #expect(fixture.hub.join(connection, room: "r", knownSeq: 0) != nil)
        fixture.loop.run()
        for n in 1...4 { fixture.hub.broadcast(room: "r", frame: .text("m\(n)", allocator: ByteBufferAllocator())) }
        fixture.loop.run()
        #expect(try fixture.written().isEmpty, "held, not written")
        #expect(fixture.hub.connectionCount == 1)

        fixture.hub.broadcast(room: "r", frame: .text("m5", allocator: ByteBufferAllocator()))
        fixture.loop.run()
        #expect(try fixture.closeFramesWritten() == [4008])
        #expect(fixture.closeCodes.withLockedValue { $0 } == [.slowConsumer])
        #expect(fixture.hub.connectionCount == 0)
        // The join's reply arriving afterwards writes nothing.
        fixture.hub.completeJoin(connection, room: "r", reply: .text("ack", allocator: ByteBufferAllocator()))
        fixture.loop.run()
        #expect(try fixture.written().isEmpty)
    }

    @Test("a violation the handlers never reach is failed by the backstop after the close timeout")
    func violationBackstop() async throws {
        let stuck = TestGate()
        let entered = TestGate()
        var router = EventRouter()
        router.on("hang", as: [String: Int].self, replying: { _, _ in
            await entered.open()
            await stuck.wait()
            return .replied
        })
        var configuration = ConnectionConfiguration()
        configuration.closeTimeout = .seconds(5)
        let fixture = try Fixture(configuration: configuration, router: router)

        try fixture.receive(opcode: 0x1, Array(#"{"type":"hang"}"#.utf8))
        await entered.wait()
        // An unmasked frame: a protocol violation, queued behind the hanging event.
        try fixture.receive(opcode: 0x1, Array("x".utf8), masked: false)
        fixture.loop.run()
        #expect(try fixture.written().isEmpty, "the violation waits for the earlier event's reply")
        #expect(fixture.hub.connectionCount == 1)

        fixture.loop.advanceTime(by: .seconds(4))
        #expect(try fixture.written().isEmpty)
        fixture.loop.advanceTime(by: .seconds(1))
        #expect(try fixture.closeFramesWritten() == [1002])
        #expect(fixture.closeCodes.withLockedValue { $0 } == [.protocolError])

        // Let the handler go only once the channel is gone, so that nothing it or the drain
        // does afterwards reaches the embedded loop from another thread.
        try? fixture.channel.close().wait()
        #expect(fixture.connection?.handler == nil)
        await stuck.open()
    }

    @Test("a peer silent for the ping timeout is dropped without a close frame (1006); one that spoke in time is pinged instead")
    func pingTimeout() throws {
        var configuration = ConnectionConfiguration()
        configuration.pingInterval = .seconds(20)
        let fixture = try Fixture(configuration: configuration)
        let handler = try #require(fixture.handler)
        let opened = NIODeadline.now()

        handler.heartbeatTick(now: opened + .seconds(21))
        let pings = try fixture.written()
        #expect(pings.map(\.opcode) == [0x9], "a ping when the interval is due")
        #expect(fixture.channel.isActive)

        // The default timeout is twice the interval.
        handler.heartbeatTick(now: opened + .seconds(41))
        #expect(try fixture.written().isEmpty, "no close frame to a peer that is not listening")
        #expect(!fixture.channel.isActive)
        #expect(fixture.closeCodes.withLockedValue { $0 } == [.abnormal])
        #expect(fixture.hub.connectionCount == 0)
    }

    @Test("a closed connection is freed: once its channel is gone nothing holds its handler or its Connection")
    func closedConnectionIsFreed() throws {
        weak var connection: Connection?
        weak var handler: WebSocketConnectionHandler?
        let fixture = try Fixture()
        do {
            connection = fixture.connection
            handler = fixture.handler
            try fixture.receive(opcode: 0x8, [0x03, 0xE8])  // the peer closes with 1000
            fixture.loop.run()
            try? fixture.channel.close().wait()
            fixture.loop.run()
            fixture.forgetConnection()
        }
        #expect(try fixture.closeFramesWritten() == [1000])
        #expect(fixture.closeCodes.withLockedValue { $0 } == [.normal])
        #expect(fixture.hub.openTransportCount == 0)
        #expect(handler == nil, "the handler outlived its channel")
        #expect(connection == nil, "the Connection outlived its channel")
    }
}
