import Foundation
import Logging
import Metrics
import NIOCore
import Switchboard

/// The chat protocol's client events (PROTOCOL.md, "Chat events"), as handlers on the
/// library's router. Rooms, ordering and presence come from the hub; messages, `seq`, epochs
/// and history from the store.
struct ChatEvents: Sendable {
    let store: any RoomStore
    /// The cluster's members of a room; nil on a single node, whose hub knows them all.
    let directory: (any PresenceDirectory)?
    let historyLimit: Int
    /// How many messages a recovery (`since`) may return at most.
    let recoveryLimit: Int
    let maxRoomsPerConnection: Int
    let budget: HistoryBudget
    private let duplicates = Counter(label: "switchboard_duplicate_sends_total")
    private let roomLimitRefusals = Counter(label: "switchboard_too_many_rooms_total")
    private let cutReplies = Counter(label: "switchboard_history_replies_cut_total")

    init(store: any RoomStore, directory: (any PresenceDirectory)? = nil, configuration: ChatConfiguration) {
        self.store = store
        self.directory = directory
        historyLimit = configuration.historyLimit
        recoveryLimit = configuration.roomRetention
        maxRoomsPerConnection = configuration.maxRoomsPerConnection
        budget = HistoryBudget(maxQueuedBytes: configuration.connection.maxQueuedBytes)
    }

    // The payloads are the wire contract's, shared with clients (SwitchboardProtocol).
    typealias JoinRoom = JoinRoomRequest
    typealias LeaveRoom = LeaveRoomRequest
    typealias SendMessage = SendMessageRequest
    typealias ChangeRoom = ChangeRoomRequest
    typealias History = HistoryRequest

    func register(on router: inout EventRouter) {
        router.on("join_room", as: JoinRoom.self, replying: { payload, context in
            try Self.checkRoom(payload.room)
            if let since = payload.since, since < 0 { throw EventError(.badPayload, "since must be >= 0") }
            // One read of the hub's registry: join storms already contend for its lock.
            let joined = context.hub.rooms(of: context.connection)
            if joined.count >= maxRoomsPerConnection, !joined.contains(payload.room) {
                roomLimitRefusals.increment()
                throw EventError(.tooManyRooms, "already in \(maxRoomsPerConnection) rooms; leave one first")
            }
            try await join(room: payload.room, since: payload.since, epoch: payload.epoch, context: context)
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
            if let key = payload.idempotencyKey, !Validation.isValidIdempotencyKey(key) {
                throw EventError(.badPayload, "idempotency_key must match ^[A-Za-z0-9_-]{1,64}$")
            }
            guard context.hub.isMember(context.connection, of: payload.room) else {
                throw EventError(.notInRoom, "not in room \(payload.room)")
            }
            let outcome = try await store.append(
                room: payload.room, from: context.connection.user, message: payload.message, sent: Date(),
                idempotencyKey: payload.idempotencyKey
            )
            switch outcome {
            case .stored(let stored):
                // Publish every assigned seq, whatever happens to the sender meanwhile: the room
                // delivers in seq order and would otherwise wait at the gap.
                context.hub.publish(
                    room: stored.room, seq: stored.seq,
                    frame: ChatFrames.newMessage(stored, allocator: ByteBufferAllocator())
                )
            case .duplicate:
                duplicates.increment()
            }
            return SendAck(room: payload.room, seq: outcome.seq)
        }
        router.on("change_room", as: ChangeRoom.self, replying: { payload, context in
            try Self.checkRoom(payload.name)
            for room in context.hub.rooms(of: context.connection) where room != payload.name {
                context.hub.leave(context.connection, room: room)
            }
            try await join(room: payload.name, since: nil, epoch: nil, context: context)
            return .replied
        })
        router.on("history", as: History.self) { payload, context in
            try Self.checkRoom(payload.room)
            let limit = payload.limit ?? 50
            guard (1...100).contains(limit) else { throw EventError(.badPayload, "limit must be 1 to 100") }
            let slice: HistorySlice
            let keep: HistoryBudget.Keep
            switch (payload.since, payload.before) {
            case (let since?, nil) where since >= 0:
                slice = try await store.history(room: payload.room, after: since, through: .max, limit: limit)
                keep = .oldest
            case (nil, let before?) where before >= 0:
                slice = try await store.history(room: payload.room, before: before, limit: limit)
                keep = .newest
            default:
                throw EventError(.badPayload, "give one of since or before, an integer >= 0")
            }
            let page = fit(slice.messages, keep: keep)
            return HistoryAck(
                room: payload.room, epoch: slice.epoch, messages: page.messages.map(HistoryEntry.init), more: slice.more || page.cut
            )
        }
    }

    /// Joins, then answers with members, `seq`, epoch and history. The hub holds the room's
    /// live messages back until the ack is out, and the history stops at the `seq` the hub saw
    /// at the join, so the client gets every message exactly once, in order.
    ///
    /// `since` resumes only within the same room life: with another `epoch` the old seqs mean
    /// nothing, so the joiner gets the latest messages and `recovered: false`.
    private func join(room: String, since: Int?, epoch: String?, context: EventContext) async throws {
        // Read while the hub keeps the room: a message published meanwhile cannot be lost
        // with a room evicted between this read and the join.
        var position = RoomPosition(epoch: "", seq: 0)
        guard let snapshot = try await context.hub.join(context.connection, room: room, knownSeq: {
            position = try await store.position(room: room)
            return position.seq
        }) else {
            return  // the connection went away meanwhile
        }
        do {
            let messages: [StoredMessage], more: Bool, recovered: Bool?
            if let since, epoch == nil || epoch == position.epoch {
                let slice = try await store.history(room: room, after: since, through: snapshot.lastSeq, limit: recoveryLimit)
                let page = fit(slice.messages, keep: .oldest)
                (messages, more, recovered) = (page.messages, slice.more || page.cut, slice.complete && since <= snapshot.lastSeq)
            } else {
                let slice = try await store.history(room: room, before: snapshot.lastSeq + 1, limit: historyLimit)
                let page = fit(slice.messages, keep: .newest)
                (messages, more, recovered) = (page.messages, page.cut, since.map { _ in false })
            }
            let members = try await directory?.members(of: room, joiner: context.connection.user, local: snapshot.members) ?? snapshot.members
            let ack = JoinAck(
                room: room, members: members, seq: snapshot.lastSeq, epoch: position.epoch,
                history: messages.map(HistoryEntry.init), more: more, recovered: recovered
            )
            context.hub.completeJoin(context.connection, room: room, reply: try context.ackFrame(ack))
        } catch {
            // The join did not happen as far as the client knows: undo it (a join that was a
            // repeat leaves the existing membership alone).
            let reply: EventError
            if error is StoreUnavailableError {
                reply = EventError(.unavailable, "storage unreachable; not joined, try again")
            } else {
                context.logger.error("join failed", metadata: ["room": "\(room)", "error": "\(error)"])
                reply = EventError(.internal, "could not load history")
            }
            context.hub.completeJoin(context.connection, room: room, reply: EventEncoding.error(reply, id: context.id))
            if !snapshot.wasMember { context.hub.leave(context.connection, room: room) }
        }
    }

    private func fit(_ messages: [StoredMessage], keep: HistoryBudget.Keep) -> (messages: [StoredMessage], cut: Bool) {
        let page = budget.fit(messages, keep: keep)
        if page.cut { cutReplies.increment() }
        return page
    }

    static func checkRoom(_ room: String) throws(EventError) {
        guard Validation.isValidRoom(room) else {
            throw EventError(.badPayload, "room must match ^[A-Za-z0-9_.-]{1,64}$")
        }
    }
}
