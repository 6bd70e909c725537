import NIOConcurrencyHelpers
import NIOCore
import Switchboard
import SwitchboardTestSupport
import Testing

@Suite("Hub rooms (integration)")
struct HubRoomsIntegrationTests {
    @Test("a presence encoder that calls back into the hub is run outside the hub's locks")
    func presenceEncoderMayCallTheHub() async throws {
        // The encoder asks the hub who is in the room. Under the hub's lock this was a
        // recursive lock: a crash in a debug build, a deadlock in a release one.
        let hubBox = NIOLockedValueBox<Hub?>(nil)
        let presence: Hub.PresenceEncoder = { change in
            let members = hubBox.withLockedValue { $0 }?.members(of: change.room).count ?? -1
            let kind = change.kind == .joined ? "joined" : "left"
            return .text(
                #"{"type":"presence","payload":{"kind":"\#(kind)","user":"\#(change.user)","members":\#(members)}}"#,
                allocator: ByteBufferAllocator()
            )
        }
        try await LibraryTestServer.run(presence: presence) { server in
            hubBox.withLockedValue { $0 = server.hub }
            let watcher = try await server.joinedClients(1, room: "p")[0]
            let joiner = try await server.connect("joiner")
            try await joiner.send(text: #"{"type":"join","payload":{"room":"p"},"id":1}"#)
            let joined = try await watcher.nextEvent(ofType: "presence")
            #expect(Self.presence(joined) == "joined joiner, members 1")
            // Leaving: by event, then by going away.
            try await joiner.send(text: #"{"type":"leave","payload":{"room":"p"},"id":2}"#)
            let left = try await watcher.nextEvent(ofType: "presence")
            #expect(Self.presence(left) == "left joiner, members 2")
            try await joiner.send(text: #"{"type":"join","payload":{"room":"p"},"id":3}"#)
            _ = try await watcher.nextEvent(ofType: "presence")
            await joiner.close()
            let gone = try await watcher.nextEvent(ofType: "presence")
            #expect(Self.presence(gone) == "left joiner, members 2")
            await watcher.close()
        }
    }

    @Test("the presence observer hears a user's first connection joining and last one leaving or going away, once each, after the change")
    func presenceObserverSeesFirstAndLast() async throws {
        let changes = NIOLockedValueBox<[String]>([])
        let hubBox = NIOLockedValueBox<Hub?>(nil)
        try await LibraryTestServer.run(onPresenceChange: { change in
            // Told after the change: the hub already shows it.
            let present = hubBox.withLockedValue { $0 }?.isPresent(change.user, in: change.room) ?? false
            changes.withLockedValue { $0.append("\(change.kind == .joined ? "joined" : "left") \(change.user) \(change.room) present=\(present)") }
        }) { server in
            hubBox.withLockedValue { $0 = server.hub }
            let first = try await server.connect("ann")
            let second = try await server.connect("ann")
            for (client, id) in [(first, 1), (second, 2)] {
                try await client.send(text: #"{"type":"join","payload":{"room":"p"},"id":\#(id)}"#)
                _ = try await client.nextEvent(ofType: "ack")
            }
            try await first.send(text: #"{"type":"leave","payload":{"room":"p"},"id":3}"#)
            _ = try await first.nextEvent(ofType: "ack")
            #expect(changes.withLockedValue { $0 } == ["joined ann p present=true"])
            await second.close()
            try await eventually("the last connection's departure is observed") { changes.withLockedValue { $0.count } == 2 }
            #expect(changes.withLockedValue { $0 } == ["joined ann p present=true", "left ann p present=false"])
            await first.close()
        }
    }

    @Test("a broadcast except a user reaches every member but that user's connection")
    func broadcastExceptUser() async throws {
        try await LibraryTestServer.run { server in
            let members = try await server.joinedClients(2, room: "x")
            server.hub.broadcast(room: "x", frame: .text(#"{"type":"news"}"#, allocator: ByteBufferAllocator()), exceptUser: "u0")
            server.hub.broadcast(room: "x", frame: .text(#"{"type":"after"}"#, allocator: ByteBufferAllocator()))
            #expect(try await members[1].nextEvent(ofType: "news")["type"] as? String == "news")
            let first = try await members[0].nextJSON()
            #expect(first["type"] as? String == "after")
            for member in members { await member.close() }
        }
    }

    private static func presence(_ event: [String: Any]) -> String {
        let payload = event["payload"] as? [String: Any] ?? [:]
        return "\(payload["kind"] as? String ?? "?") \(payload["user"] as? String ?? "?"), members \(payload["members"] as? Int ?? -1)"
    }

    @Test("a join whose seq read overlaps the room's last leave and a publish keeps the room's seq order")
    func joinRacingTheLastLeaveKeepsSeqOrder() async throws {
        let race = SeqReadGate()
        try await LibraryTestServer.run(router: race.router) { server in
            let leaver = try await server.joinedClients(1, room: "r")[0]
            let joiner = try await server.connect("joiner")
            // The joiner reads the room's latest seq (0)…
            try await joiner.send(text: #"{"type":"join_after_read","payload":{"room":"r"},"id":1}"#)
            await race.readStarted()
            // …while the last member leaves and seq 1, assigned before the leave, is published.
            try await leaver.send(text: #"{"type":"leave","payload":{"room":"r"},"id":2}"#)
            _ = try await leaver.nextEvent(ofType: "ack")
            try await publish(seq: 1, room: "r", by: leaver, id: 3)
            race.finishRead(returning: 0)
            // The room was kept for the join: seq 1 went out in it, so the joiner's history
            // ends at 1 and live messages go on from 2. An evicted room would have been
            // re-created at 0 and held 2 forever, waiting for 1.
            let ack = try await joiner.nextEvent(ofType: "ack")
            #expect((ack["payload"] as? [String: Any])?["seq"] as? Int == 1)
            try await publish(seq: 2, room: "r", by: leaver, id: 4, awaitingAck: false)
            #expect(try await liveSeq(of: joiner) == 2)
            await leaver.close()
            await joiner.close()
        }
    }

    @Test("a message published while the first join reads the seq is sequenced after what the read returns")
    func publishDuringTheFirstJoinsSeqReadIsKept() async throws {
        let race = SeqReadGate()
        try await LibraryTestServer.run(router: race.router) { server in
            let joiner = try await server.connect("joiner")
            let sender = try await server.connect("sender")
            try await joiner.send(text: #"{"type":"join_after_read","payload":{"room":"fresh"},"id":1}"#)
            await race.readStarted()
            // Seq 1 and 2 were assigned after the read and come back before the join does.
            try await publish(seq: 2, room: "fresh", by: sender, id: 2)
            try await publish(seq: 1, room: "fresh", by: sender, id: 3)
            race.finishRead(returning: 0)
            let ack = try await joiner.nextEvent(ofType: "ack")
            // Published before the join, so in the joiner's history (through seq 2)…
            #expect((ack["payload"] as? [String: Any])?["seq"] as? Int == 2)
            // …and the room goes on at 3.
            try await publish(seq: 3, room: "fresh", by: sender, id: 4, awaitingAck: false)
            #expect(try await liveSeq(of: joiner) == 3)
            await sender.close()
            await joiner.close()
        }
    }

    @Test("rooms are freed with their last member, whether it leaves or goes away")
    func emptiedRoomsAreEvicted() async throws {
        try await LibraryTestServer.run { server in
            let client = try await server.connect("roamer")
            for index in 0..<50 {
                try await client.send(text: #"{"type":"join","payload":{"room":"room\#(index)"},"id":1}"#)
                _ = try await client.nextEvent(ofType: "ack")
                try await client.send(text: #"{"type":"leave","payload":{"room":"room\#(index)"},"id":2}"#)
                _ = try await client.nextEvent(ofType: "ack")
            }
            #expect(server.hub.roomCount == 0)
            for index in 0..<20 {
                try await client.send(text: #"{"type":"join","payload":{"room":"kept\#(index)"},"id":3}"#)
                _ = try await client.nextEvent(ofType: "ack")
            }
            let other = try await server.joinedClients(1, room: "kept0")[0]
            #expect(server.hub.roomCount == 20)
            await client.close()
            try await eventually("the rooms only the closed connection was in are freed") { server.hub.roomCount == 1 }
            await other.close()
            try await eventually("the last room is freed") { server.hub.roomCount == 0 }
        }
    }
}

/// A router whose `join_after_read` reads the room's latest seq through a gate the test
/// opens, so the test can act while the read is in flight; `publish` publishes a numbered
/// frame with the given seq.
private final class SeqReadGate: Sendable {
    private let started: AsyncStream<Void>
    private let startedContinuation: AsyncStream<Void>.Continuation
    private let result: AsyncStream<Int>
    private let resultContinuation: AsyncStream<Int>.Continuation

    init() {
        (started, startedContinuation) = AsyncStream.makeStream()
        (result, resultContinuation) = AsyncStream.makeStream()
    }

    func readStarted() async {
        var iterator = started.makeAsyncIterator()
        _ = await iterator.next()
    }

    func finishRead(returning seq: Int) { resultContinuation.yield(seq) }

    private func read() async -> Int {
        startedContinuation.yield()
        var iterator = result.makeAsyncIterator()
        return await iterator.next() ?? 0
    }

    struct Publish: Codable, Sendable {
        var room: String
        var seq: Int
    }

    var router: EventRouter {
        var router = LibraryTestServer.defaultRouter
        router.on("join_after_read", as: LibraryTestServer.RoomPayload.self, replying: { payload, context in
            guard let snapshot = await context.hub.join(context.connection, room: payload.room, knownSeq: { await self.read() }) else {
                return .replied
            }
            context.hub.completeJoin(context.connection, room: payload.room, reply: try context.ackFrame(["seq": snapshot.lastSeq]))
            return .replied
        })
        router.on("publish", as: Publish.self) { payload, context in
            context.hub.publish(room: payload.room, seq: payload.seq, frame: numberedFrame(payload.seq))
            return payload
        }
        return router
    }
}

/// Has `client` publish `seq` to `room` through the test router's `publish` event.
private func publish(seq: Int, room: String, by client: TestWebSocketClient, id: Int, awaitingAck: Bool = true) async throws {
    try await client.send(text: #"{"type":"publish","payload":{"room":"\#(room)","seq":\#(seq)},"id":\#(id)}"#)
    if awaitingAck { _ = try await client.nextEvent(ofType: "ack") }
}

/// The number of the next live message `client` receives.
private func liveSeq(of client: TestWebSocketClient) async throws -> Int? {
    let live = try await client.nextEvent(ofType: "m", timeout: .seconds(5))
    return (live["payload"] as? [String: Any])?["n"] as? Int
}
