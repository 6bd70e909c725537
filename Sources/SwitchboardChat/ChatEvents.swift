import Foundation
import Logging
import NIOCore
import Switchboard

/// The chat protocol's client events (PROTOCOL.md, "Chat events"), as handlers on the
/// library's router. Rooms, ordering and presence come from the hub; messages, `seq` and
/// history from the store.
struct ChatEvents: Sendable {
    let store: any RoomStore
    let historyLimit: Int
    /// How many messages a recovery (`since`) may return at most.
    let recoveryLimit: Int

    struct JoinRoom: Decodable, Sendable {
        var room: String
        var since: Int?
    }

    struct LeaveRoom: Decodable, Sendable {
        var room: String
    }

    struct SendMessage: Decodable, Sendable {
        var room: String
        var message: String
    }

    struct ChangeRoom: Decodable, Sendable {
        var name: String
    }

    struct JoinAck: Encodable, Sendable {
        var room: String
        var members: [String]
        var seq: Int
        var history: [HistoryEntry]
        var recovered: Bool?
    }

    struct RoomAck: Encodable, Sendable {
        var room: String
    }

    struct SendAck: Encodable, Sendable {
        var room: String
        var seq: Int
    }

    func register(on router: inout EventRouter) {
        router.on("join_room", as: JoinRoom.self, replying: { payload, context in
            try Self.checkRoom(payload.room)
            if let since = payload.since, since < 0 { throw EventError(.badPayload, "since must be >= 0") }
            try await join(room: payload.room, since: payload.since, context: context)
            return .replied
        })
        router.on("leave_room", as: LeaveRoom.self) { payload, context in
            try Self.checkRoom(payload.room)
            guard context.hub.leave(context.connection, room: payload.room) else {
                throw EventError(.notInRoom, "not in room \(payload.room)")
            }
            return RoomAck(room: payload.room)
        }
        router.on("send_message", as: SendMessage.self) { payload, context in
            try Self.checkRoom(payload.room)
            guard Validation.isValidMessage(payload.message) else {
                throw EventError(.badPayload, "message must be a string of 1 to 4096 characters")
            }
            guard context.hub.isMember(context.connection, of: payload.room) else {
                throw EventError(.notInRoom, "not in room \(payload.room)")
            }
            let stored = try await store.append(
                room: payload.room, from: context.connection.user, message: payload.message, sent: Date()
            )
            // Publish every assigned seq, whatever happens to the sender meanwhile: the room
            // delivers in seq order and would otherwise wait at the gap.
            context.hub.publish(
                room: stored.room, seq: stored.seq,
                frame: ChatFrames.newMessage(stored, allocator: ByteBufferAllocator())
            )
            return SendAck(room: stored.room, seq: stored.seq)
        }
        router.on("change_room", as: ChangeRoom.self, replying: { payload, context in
            try Self.checkRoom(payload.name)
            for room in context.hub.rooms(of: context.connection) where room != payload.name {
                context.hub.leave(context.connection, room: room)
            }
            try await join(room: payload.name, since: nil, context: context)
            return .replied
        })
    }

    /// Joins, then answers with members, `seq` and history. The hub holds the room's live
    /// messages back until the ack is out, and the history stops at the `seq` the hub saw at
    /// the join, so the client gets every message exactly once, in order.
    private func join(room: String, since: Int?, context: EventContext) async throws {
        // Read while the hub keeps the room: a message published meanwhile cannot be lost
        // with a room evicted between this read and the join.
        let latestSeq = { try await store.latestSeq(room: room) }
        guard let snapshot = try await context.hub.join(context.connection, room: room, knownSeq: latestSeq) else {
            return  // the connection went away meanwhile
        }
        do {
            let slice: HistorySlice
            if let since {
                slice = try await store.history(room: room, after: since, through: snapshot.lastSeq, limit: recoveryLimit)
            } else {
                slice = try await store.history(
                    room: room, after: max(0, snapshot.lastSeq - historyLimit), through: snapshot.lastSeq, limit: historyLimit
                )
            }
            let ack = JoinAck(
                room: room, members: snapshot.members, seq: snapshot.lastSeq,
                history: slice.messages.map(HistoryEntry.init), recovered: since.map { slice.complete && $0 <= snapshot.lastSeq }
            )
            context.hub.completeJoin(context.connection, room: room, reply: try context.ackFrame(ack))
        } catch {
            // The join did not happen as far as the client knows: undo it (a join that was a
            // repeat leaves the existing membership alone).
            context.logger.error("join failed", metadata: ["room": "\(room)", "error": "\(error)"])
            context.hub.completeJoin(
                context.connection, room: room,
                reply: EventEncoding.error(EventError(.internal, "could not load history"), id: context.id)
            )
            if !snapshot.wasMember { context.hub.leave(context.connection, room: room) }
        }
    }

    static func checkRoom(_ room: String) throws(EventError) {
        guard Validation.isValidRoom(room) else {
            throw EventError(.badPayload, "room must match ^[A-Za-z0-9_.-]{1,64}$")
        }
    }
}
