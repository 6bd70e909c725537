import Foundation
import Logging
import NIOConcurrencyHelpers
import NIOCore
import Switchboard
import SwitchboardTestSupport
import Testing

/// Each failure mode of a connection, provoked for real over loopback.
@Suite("Connection lifecycle (integration)")
struct ConnectionLifecycleIntegrationTests {
    @Test("an abrupt TCP drop (no close frame) removes the connection promptly, cleanup once")
    func abruptDrop() async throws {
        try await LibraryTestServer.run { server in
            let client = try await server.connect("alice")
            try await eventually("registration") { server.hub.connectionCount == 1 }
            await client.abort()
            try await eventually("removal") { server.hub.connectionCount == 0 && server.hub.openTransportCount == 0 }
            #expect(server.closeCodes.values.map { $0 } == [[.abnormal]])
        }
    }

    @Test("a frozen peer that stops answering pings is removed after the ping timeout")
    func frozenPeer() async throws {
        var configuration = SwitchboardServerConfiguration()
        // Generous margins: the healthy peer must answer within the timeout even when the
        // whole suite (or ThreadSanitizer) keeps both cores busy.
        // (ThreadSanitizer with the parallel suite has stalled a loop for over 1.5 s here.)
        configuration.connection.pingInterval = .milliseconds(500)
        configuration.connection.pingTimeout = .seconds(4)
        try await LibraryTestServer.run(configuration: configuration) { server in
            let healthy = try await server.connect("healthy")
            let frozen = try await server.connect("frozen")
            try await eventually("registration") { server.hub.connectionCount == 2 }
            try await frozen.freeze()
            try await eventually("the frozen peer's removal", timeout: .seconds(20)) { !server.closeCodes.isEmpty }
            // The healthy peer answered every ping and is still there, well past the timeout.
            try await Task.sleep(for: .milliseconds(2000))
            #expect(server.hub.connectionCount == 1)
            #expect(healthy.receivedEvents.contains { if case .ping = $0 { return true } else { return false } })
            #expect(server.closeCodes.values.flatMap { $0 } == [.abnormal])
            await healthy.close()
        }
    }

    @Test("a slow consumer gets 4008 while the others receive all 10,000 messages in order")
    func slowConsumer() async throws {
        var configuration = SwitchboardServerConfiguration()
        configuration.connection.maxQueuedMessages = 256
        configuration.connection.maxQueuedBytes = 256 * 1024
        configuration.connection.closeTimeout = .seconds(30)
        // A small kernel send buffer, so the backlog reaches the server's own queue quickly
        // instead of megabytes of kernel buffer first.
        configuration.connection.socketSendBufferSize = 16 * 1024
        try await LibraryTestServer.run(configuration: configuration) { server in
            let readers = try await [server.connect("r1"), server.connect("r2")]
            let slow = try await server.connect("slow", receiveBufferSize: 4096)
            for client in readers + [slow] {
                try await client.send(text: #"{"type":"join","payload":{"room":"big"},"id":1}"#)
                _ = try await client.nextEvent(ofType: "ack")
            }
            try await slow.freeze()
            let padding = String(repeating: "x", count: 200)
            // Published at the pace the healthy readers keep up with (100 at a time); the
            // slow peer's backlog grows past its 256 KiB limit meanwhile.
            for batch in stride(from: 1, through: 10_000, by: 100) {
                for n in batch..<(batch + 100) {
                    let frame = OutboundFrame.text(#"{"type":"m","payload":{"n":\#(n),"pad":"\#(padding)"}}"#, allocator: ByteBufferAllocator())
                    server.hub.publish(room: "big", seq: n, frame: frame)
                }
                for reader in readers {
                    for n in batch..<(batch + 100) {
                        let event = try await reader.nextEvent(ofType: "m")
                        let payload = try #require(event["payload"] as? [String: Any])
                        try #require(payload["n"] as? Int == n, "reader saw \(payload["n"] ?? "nil") where \(n) was due")
                    }
                }
            }
            #expect(server.hub.connectionCount == 2)
            // The slow peer was dropped; once it reads again, the 4008 close frame comes after
            // the backlog the server had accepted for it.
            try await slow.channel.setOption(ChannelOptions.autoRead, value: true).get()
            #expect(try await slow.nextClose(timeout: .seconds(20)) == 4008)
            let slowCodes = server.closeCodes.values.filter { $0.contains(.slowConsumer) }
            #expect(slowCodes == [[.slowConsumer]])
            for reader in readers { await reader.close() }
        }
    }

    @Test("50 concurrent broadcasting tasks: no corrupt frame, every message exactly once, per-task order kept")
    func concurrentBroadcasts() async throws {
        try await LibraryTestServer.run { server in
            let clients = try await server.joinedClients(4, room: "r")
            let tasks = 50, perTask = 100
            await withTaskGroup(of: Void.self) { group in
                for task in 0..<tasks {
                    group.addTask {
                        for n in 0..<perTask { server.hub.broadcast(room: "r", frame: numberedFrame(n, from: "t\(task)")) }
                    }
                }
            }
            for client in clients {
                var next: [String: Int] = [:]
                for _ in 0..<(tasks * perTask) {
                    let event = try await client.nextEvent(ofType: "m")
                    let payload = try #require(event["payload"] as? [String: Any])
                    let from = try #require(payload["from"] as? String)
                    let n = try #require(payload["n"] as? Int)
                    try #require(n == next[from, default: 0], "out of order from \(from)")
                    next[from] = n + 1
                }
                #expect(next.count == tasks && next.values.allSatisfy { $0 == perTask })
                await client.close()
            }
        }
    }

    @Test("broadcasts that meet in one loop pass go out as one write per member and arrive as separate frames, in order")
    func broadcastRuns() async throws {
        try await LibraryTestServer.run { server in
            let clients = try await server.joinedClients(3, room: "r")
            let runsBefore = server.combinedRuns
            server.holdingLoops {
                for n in 0..<100 { server.hub.broadcast(room: "r", frame: numberedFrame(n)) }
            }
            for client in clients {
                for n in 0..<100 {
                    let event = try await client.nextEvent(ofType: "m")
                    let payload = try #require(event["payload"] as? [String: Any])
                    try #require(payload["n"] as? Int == n, "message \(n) out of order")
                }
                await client.close()
            }
            // 100 frames: at least two runs (a run is at most 64 frames).
            #expect(server.combinedRuns - runsBefore >= 2)
        }
    }

    @Test("client close 1000 and 1001: the close is answered, the connection removed, nothing logged as an error", arguments: [UInt16(1000), 1001])
    func clientClose(code: UInt16) async throws {
        try await LibraryTestServer.run { server in
            let client = try await server.connect("closer")
            try await eventually("registration") { server.hub.connectionCount == 1 }
            try await client.sendClose(code: code, reason: "bye")
            #expect(try await client.nextClose() == code)
            try await client.waitForDisconnect()
            try await eventually("removal") { server.hub.connectionCount == 0 && server.hub.openTransportCount == 0 }
            #expect(server.closeCodes.values.flatMap { $0 } == [CloseCode(rawValue: code)])
            #expect(server.logs.entries(atLeast: .error).isEmpty)
            let closed = server.logs.entries(withMessage: "connection closed")
            #expect(closed.count == 1 && closed.first?.metadata["close_code"] == String(code))
        }
    }

    @Test("server shutdown sends 1001 to everyone after the messages already queued")
    func serverShutdown() async throws {
        var configuration = SwitchboardServerConfiguration()
        configuration.connection.closeTimeout = .seconds(5)
        try await LibraryTestServer.run(configuration: configuration) { server in
            var clients: [TestWebSocketClient] = []
            for index in 0..<3 {
                let client = try await server.connect("s\(index)")
                try await client.send(text: #"{"type":"join","payload":{"room":"r"},"id":1}"#)
                _ = try await client.nextEvent(ofType: "ack")
                clients.append(client)
            }
            for n in 0..<1000 { server.hub.broadcast(room: "r", frame: numberedFrame(n)) }
            async let shutdown: Void = server.hub.shutdown(drainTimeout: .seconds(10))
            for client in clients {
                for n in 0..<1000 {
                    let event = try await client.nextEvent(ofType: "m")
                    try #require((event["payload"] as? [String: Any])?["n"] as? Int == n)
                }
                #expect(try await client.nextClose() == 1001)
            }
            await shutdown
            #expect(server.hub.openTransportCount == 0)
            #expect(!server.hub.isAccepting)
            // New connections are refused while and after draining.
            await #expect(throws: TestWebSocketClient.Refused.self) { _ = try await server.connect("late") }
        }
    }

    @Test("cleanup runs exactly once per connection, whatever mix of failures hits it")
    func cleanupOnce() async throws {
        var configuration = SwitchboardServerConfiguration()
        configuration.connection.closeTimeout = .milliseconds(200)
        try await LibraryTestServer.run(configuration: configuration) { server in
            // A peer that closes, then drops TCP; one that breaks the protocol, then closes too;
            // one the server closes and that never answers (close timeout, then its drop).
            let a = try await server.connect("a")
            let b = try await server.connect("b")
            let c = try await server.connect("c")
            try await eventually("registration") { server.hub.connectionCount == 3 }
            try await a.sendClose(code: 1000)
            await a.abort()
            try await b.sendFrame(opcode: 0x1, payload: Array("x".utf8), masked: false)
            // The server may have failed b (1002) and closed its side already, and then this
            // close cannot be sent: either order is a mix this test is about.
            _ = try? await b.sendClose(code: 1000)
            try await c.send(text: #"{"type":"close_me"}"#)
            try await c.freeze()
            try await eventually("all removed") { server.hub.openTransportCount == 0 }
            let codes = server.closeCodes
            #expect(codes.count == 3)
            #expect(codes.values.allSatisfy { $0.count == 1 })
            #expect(codes.values.flatMap { $0 }.sorted { $0.rawValue < $1.rawValue } == [.normal, .normal, .protocolError])
            await c.abort()
        }
    }

    @Test("a join whose room gets more than maxQueuedMessages messages before its reply is dropped with 4008; the other members get everything")
    func heldRoomOverflow() async throws {
        var configuration = SwitchboardServerConfiguration()
        configuration.connection.maxQueuedMessages = 50
        let joined = TestGate()
        let release = TestGate()
        var router = LibraryTestServer.defaultRouter
        // A join whose reply waits (as one waiting for a slow store would): the room's
        // messages are held for the joiner meanwhile.
        router.on("slow_join", as: LibraryTestServer.RoomPayload.self, replying: { payload, context in
            guard let snapshot = context.hub.join(context.connection, room: payload.room, knownSeq: 0) else { return .replied }
            await joined.open()
            await release.wait()
            context.hub.completeJoin(context.connection, room: payload.room, reply: try context.ackFrame(["seq": snapshot.lastSeq]))
            return .replied
        })
        try await LibraryTestServer.run(configuration: configuration, router: router) { server in
            try await releasing(release) {
                let member = try await server.joinedClients(1, room: "r")[0]
                let joiner = try await server.connect("joiner")
                try await joiner.send(text: #"{"type":"slow_join","payload":{"room":"r"},"id":1}"#)
                await joined.wait()
                // Ten at a time, at the member's pace: the member's own queue (the same limit)
                // never holds more than ten, the joiner's held room collects all 60.
                for batch in stride(from: 0, to: 60, by: 10) {
                    for n in batch..<(batch + 10) { server.hub.broadcast(room: "r", frame: numberedFrame(n)) }
                    for n in batch..<(batch + 10) {
                        let event = try await member.nextEvent(ofType: "m")
                        try #require((event["payload"] as? [String: Any])?["n"] as? Int == n)
                    }
                }
                #expect(try await joiner.nextClose() == 4008)
                #expect(server.closeCodes.values.flatMap { $0 } == [.slowConsumer])
                #expect(server.hub.connectionCount == 1)
                await member.close()
            }
        }
    }

    @Test("a protocol violation behind an event handler that never returns is failed with 1002 after the close timeout")
    func violationBackstop() async throws {
        var configuration = SwitchboardServerConfiguration()
        configuration.connection.closeTimeout = .milliseconds(500)
        let entered = TestGate()
        let release = TestGate()
        var router = LibraryTestServer.defaultRouter
        router.on("hang", as: LibraryTestServer.EchoPayload.self, replying: { _, _ in
            await entered.open()
            await release.wait()
            return .replied
        })
        try await LibraryTestServer.run(configuration: configuration, router: router) { server in
            try await releasing(release) {
                let client = try await server.connect("breaker")
                try await client.send(text: #"{"type":"hang"}"#)
                await entered.wait()
                try await client.sendFrame(opcode: 0x1, payload: Array("x".utf8), masked: false)
                #expect(try await client.nextClose() == 1002)
                try await eventually("removal") { server.hub.connectionCount == 0 }
                #expect(server.closeCodes.values.flatMap { $0 } == [.protocolError])
            }
        }
    }

    @Test("a peer that floods pings and never reads its pongs is dropped as a slow consumer (4008): pongs count against its queue")
    func pingFlood() async throws {
        try await LibraryTestServer.run { server in
            let pinger = try await server.connect("pinger", receiveBufferSize: 4096)
            let bystander = try await server.connect("bystander")
            try await eventually("registration") { server.hub.connectionCount == 2 }
            try await pinger.freeze()
            // Ten thousand empty, masked pings per write, as fast as the server takes them.
            let pings = Array((0..<10_000).map { _ in TestWebSocketClient.encodeFrame(opcode: 0x9, payload: []) }.joined())
            let start = ContinuousClock.now
            while server.closeCodes.isEmpty, ContinuousClock.now - start < .seconds(30) {
                do { try await pinger.sendRaw(pings) } catch { break }
            }
            try await eventually("the pinger's drop") { !server.closeCodes.isEmpty }
            #expect(server.closeCodes.values.flatMap { $0 } == [.slowConsumer])
            #expect(server.hub.connectionCount == 1)
            await pinger.abort()
            await bystander.close()
        }
    }

    @Test("a closed connection is freed: nothing holds its Connection once the client has gone")
    func closedConnectionIsFreed() async throws {
        let remembered = NIOLockedValueBox(WeakConnection())
        var router = LibraryTestServer.defaultRouter
        router.on("remember_me", as: LibraryTestServer.EchoPayload.self) { payload, context in
            remembered.withLockedValue { $0.connection = context.connection }
            return payload
        }
        try await LibraryTestServer.run(router: router) { server in
            let client = try await server.connect("gone")
            try await client.send(text: #"{"type":"join","payload":{"room":"r"},"id":1}"#)
            _ = try await client.nextEvent(ofType: "ack")
            try await client.send(text: #"{"type":"remember_me","id":2}"#)
            _ = try await client.nextEvent(ofType: "ack")
            #expect(remembered.withLockedValue { $0.connection } != nil)
            try await client.sendClose(code: 1000)
            try await client.waitForDisconnect()
            try await eventually("removal") { server.hub.openTransportCount == 0 }
            try await eventually("the Connection freed") { remembered.withLockedValue { $0.connection } == nil }
        }
    }
}

private struct WeakConnection {
    weak var connection: Connection?
}

/// Runs `body`, then lets `gate` go whatever happened: a handler left hanging would keep the
/// hub's shutdown, and so the test, waiting forever.
private func releasing(_ gate: TestGate, _ body: () async throws -> Void) async throws {
    do {
        try await body()
    } catch {
        await gate.open()
        throw error
    }
    await gate.open()
}
