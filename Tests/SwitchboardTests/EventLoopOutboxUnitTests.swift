import Logging
import NIOCore
import NIOEmbedded
import Testing

@testable import Switchboard

/// One event loop's outbox and its broadcast runs, on embedded channels: every `write` a
/// connection gets is read back as the frames in it.
@Suite("EventLoopOutbox")
struct EventLoopOutboxUnitTests {
    private struct Fixture {
        let loop = EmbeddedEventLoop()
        let hub: Hub
        var channels: [String: EmbeddedChannel] = [:]
        var connections: [String: Connection] = [:]

        init(writeCoalescing: TimeAmount = .zero) {
            hub = Hub(
                presence: { change in
                    OutboundFrame.text((change.kind == .joined ? "+" : "-") + change.user, allocator: ByteBufferAllocator())
                },
                writeCoalescing: writeCoalescing
            )
        }

        mutating func connect(_ user: String) throws {
            let channel = EmbeddedChannel(loop: loop)
            let connection = Connection(user: user, remoteAddress: nil, outbox: hub.outbox(for: loop))
            let handler = WebSocketConnectionHandler(
                connection: connection, hub: hub, configuration: ConnectionConfiguration(), maxFrameSize: 65536,
                logger: Logger(label: "test"), inbox: nil
            )
            connection.attach(handler)
            try channel.pipeline.syncOperations.addHandler(handler)
            try channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 1)).wait()
            #expect(hub.register(connection))
            channels[user] = channel
            connections[user] = connection
        }

        /// A join as the chat does it: join, then the ack (`ack-<user>`) through `completeJoin`.
        func join(_ user: String) {
            #expect(hub.join(connections[user]!, room: "r", knownSeq: 0) != nil)
            hub.completeJoin(connections[user]!, room: "r", reply: .text("ack-" + user, allocator: ByteBufferAllocator()))
        }

        /// The text of every frame in each write the connection got since the last call.
        func writes(_ user: String) throws -> [[String]] {
            var writes: [[String]] = []
            while var buffer = try channels[user]!.readOutbound(as: ByteBuffer.self) {
                var texts: [String] = []
                while buffer.readableBytes > 0 {
                    let opcode = buffer.readInteger(as: UInt8.self)
                    let length = buffer.readInteger(as: UInt8.self) ?? 0
                    let text = buffer.readString(length: Int(length))
                    #expect(opcode == 0x81)
                    #expect(length < 126, "the test's frames are short")
                    texts.append(try #require(text))
                }
                writes.append(texts)
            }
            return writes
        }

        var combinedRuns: Int { hub.outbox(for: loop).combinedRuns }

        /// `users` connected and joined to "r", with what they got so far read away.
        static func joined(_ users: [String]) throws -> Fixture {
            var fixture = Fixture()
            for user in users {
                try fixture.connect(user)
                fixture.join(user)
            }
            fixture.loop.run()
            for user in users { _ = try fixture.writes(user) }
            return fixture
        }
    }

    @Test("a join storm's presence events in one pass: one write per settled member, and each member still gets exactly its own events, in order")
    func joinStormRun() throws {
        var fixture = Fixture()
        for user in ["a", "b", "c", "d", "e", "f"] { try fixture.connect(user) }
        for user in ["a", "b", "c"] { fixture.join(user) }
        fixture.loop.run()
        for user in ["a", "b", "c"] { _ = try fixture.writes(user) }
        let runsBefore = fixture.combinedRuns

        // All of this meets in one outbox pass.
        fixture.join("d")
        fixture.join("e")
        fixture.hub.broadcast(room: "r", frame: .text("m1", allocator: ByteBufferAllocator()))
        fixture.join("f")
        fixture.hub.broadcast(room: "r", frame: .text("m2", allocator: ByteBufferAllocator()), except: fixture.connections["b"]!)
        fixture.loop.run()

        #expect(fixture.combinedRuns == runsBefore + 1)
        #expect(try fixture.writes("a") == [["+d", "+e", "m1", "+f", "m2"]])
        #expect(try fixture.writes("c") == [["+d", "+e", "m1", "+f", "m2"]])
        // Singled out by m2's `except`: frame by frame, without m2.
        #expect(try fixture.writes("b").flatMap { $0 } == ["+d", "+e", "m1", "+f"])
        // Joiners: their ack first, then only what was sent after they joined, never their own.
        #expect(try fixture.writes("d").flatMap { $0 } == ["ack-d", "+e", "m1", "+f", "m2"])
        #expect(try fixture.writes("e").flatMap { $0 } == ["ack-e", "m1", "+f", "m2"])
        #expect(try fixture.writes("f").flatMap { $0 } == ["ack-f", "m2"])
    }

    @Test("acks between broadcasts stay in the run: one write per other member, and the one acked gets its ack between the same frames as without the run")
    func acksInRun() throws {
        let fixture = try Fixture.joined(["a", "b", "c"])
        let runsBefore = fixture.combinedRuns

        // Two senders' messages meet in one pass, each followed by its sender's ack.
        fixture.hub.broadcast(room: "r", frame: .text("m1", allocator: ByteBufferAllocator()))
        fixture.connections["b"]!.send(.text("ack1", allocator: ByteBufferAllocator()))
        fixture.hub.broadcast(room: "r", frame: .text("m2", allocator: ByteBufferAllocator()))
        fixture.connections["c"]!.send(.text("ack2", allocator: ByteBufferAllocator()))
        fixture.loop.run()

        #expect(fixture.combinedRuns == runsBefore + 1)
        #expect(try fixture.writes("a") == [["m1", "m2"]])
        #expect(try fixture.writes("b").flatMap { $0 } == ["m1", "ack1", "m2"])
        #expect(try fixture.writes("c").flatMap { $0 } == ["m1", "m2", "ack2"])
    }

    @Test("write coalescing: what is sent within the window goes out in one write per member when it ends, not before")
    func writeCoalescing() throws {
        var fixture = Fixture(writeCoalescing: .milliseconds(1))
        for user in ["a", "b"] {
            try fixture.connect(user)
            fixture.join(user)
        }
        fixture.loop.advanceTime(by: .milliseconds(1))
        for user in ["a", "b"] { _ = try fixture.writes(user) }

        fixture.hub.broadcast(room: "r", frame: .text("m1", allocator: ByteBufferAllocator()))
        fixture.loop.run()
        #expect(try fixture.writes("a").isEmpty)
        fixture.loop.advanceTime(by: .microseconds(600))
        fixture.hub.broadcast(room: "r", frame: .text("m2", allocator: ByteBufferAllocator()))
        #expect(try fixture.writes("a").isEmpty)
        // The window counts from the first item: m2 goes with m1, 1 ms after m1.
        fixture.loop.advanceTime(by: .microseconds(400))
        #expect(try fixture.writes("a") == [["m1", "m2"]])
        #expect(try fixture.writes("b") == [["m1", "m2"]])
    }

    @Test("a leave between broadcasts ends the run: the one who left gets nothing after it")
    func leaveEndsRun() throws {
        let fixture = try Fixture.joined(["a", "b", "c"])

        fixture.hub.broadcast(room: "r", frame: .text("m1", allocator: ByteBufferAllocator()))
        #expect(fixture.hub.leave(fixture.connections["a"]!, room: "r"))
        fixture.hub.broadcast(room: "r", frame: .text("m2", allocator: ByteBufferAllocator()))
        fixture.loop.run()

        #expect(try fixture.writes("a").flatMap { $0 } == ["m1"])
        #expect(try fixture.writes("b").flatMap { $0 } == ["m1", "-a", "m2"])
        #expect(try fixture.writes("c").flatMap { $0 } == ["m1", "-a", "m2"])
    }
}
