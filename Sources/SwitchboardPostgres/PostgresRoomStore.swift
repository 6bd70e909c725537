import Foundation
import PostgresNIO
import Switchboard

/// Rooms' `seq`, epochs, messages and idempotency keys in PostgreSQL, shared by every node.
///
/// An append is one call of `switchboard_append` (one round trip, one transaction), with
/// whatever else this node is appending to the room meanwhile (`AppendBatcher`): the room
/// row's lock orders appends, so `seq` has no gaps and commit order is `seq` order; the
/// messages' NOTIFYs leave at that COMMIT. The caller's ack goes out only after this
/// returns, so an acknowledged message is committed. Retention is enforced in the same
/// transaction.
public struct PostgresRoomStore: RoomStore {
    let database: ClusterDatabase
    public let maxMessagesPerRoom: Int
    private let batcher: AppendBatcher

    init(database: ClusterDatabase, maxMessagesPerRoom: Int) {
        self.database = database
        self.maxMessagesPerRoom = maxMessagesPerRoom
        batcher = AppendBatcher { room, requests in
            try await database.run { connection in
                var outcomes: [AppendOutcome] = []
                outcomes.reserveCapacity(requests.count)
                let rows = try await connection.execute(AppendStatement(
                    room: room, senders: requests.map(\.from), bodies: requests.map(\.message), sent: requests.map(\.sent),
                    keys: requests.map { $0.idempotencyKey ?? "" }, retention: maxMessagesPerRoom
                ), logger: PostgresConnection.quiet)
                var index = 0
                for try await (seq, duplicate) in rows {
                    guard index < requests.count else { break }
                    let request = requests[index]
                    outcomes.append(duplicate
                        ? .duplicate(seq: seq)
                        : .stored(StoredMessage(room: room, seq: seq, from: request.from, message: request.message, sent: request.sent)))
                    index += 1
                }
                return outcomes
            }
        }
    }

    public func append(room: String, from: String, message: String, sent: Date, idempotencyKey: String?) async throws -> AppendOutcome {
        try await batcher.append(room: room, .init(from: from, message: message, sent: sent, idempotencyKey: idempotencyKey))
    }

    public func position(room: String) async throws -> RoomPosition {
        try await database.run { connection in
            for try await (epoch, seq) in try await connection.sql(
                "SELECT epoch, seq FROM switchboard_position(\(room))"
            ).decode((String, Int).self) {
                return RoomPosition(epoch: epoch, seq: seq)
            }
            throw StoreUnavailableError("position returned no row")
        }
    }

    public func history(room: String, after: Int, through: Int, limit: Int) async throws -> HistorySlice {
        guard let position = try await existingPosition(room: room) else { return HistorySlice(messages: [], complete: true) }
        let after = max(after, 0)
        let last = min(through, position.seq)
        guard after < last else { return HistorySlice(messages: [], complete: true, epoch: position.epoch) }
        // One more than asked tells whether there is more.
        let messages = try await messages(
            "SELECT seq, sender, body, sent FROM switchboard_messages WHERE room = \(room) AND seq > \(after) AND seq <= \(last) ORDER BY seq LIMIT \(max(limit, 0) + 1)",
            room: room
        )
        let page = Array(messages.prefix(max(limit, 0)))
        // Retention deletes from the oldest end: a missing first message means it was trimmed.
        let complete = messages.first?.seq == after + 1
        return HistorySlice(messages: page, complete: complete, more: messages.count > page.count, epoch: position.epoch)
    }

    public func history(room: String, before: Int, limit: Int) async throws -> HistorySlice {
        guard let position = try await existingPosition(room: room) else { return HistorySlice(messages: [], complete: true) }
        let newestFirst = try await messages(
            "SELECT seq, sender, body, sent FROM switchboard_messages WHERE room = \(room) AND seq < \(before) ORDER BY seq DESC LIMIT \(max(limit, 0) + 1)",
            room: room
        )
        let page = newestFirst.prefix(max(limit, 0)).reversed()
        return HistorySlice(messages: Array(page), complete: true, more: newestFirst.count > page.count, epoch: position.epoch)
    }

    /// The room's position if it has a row. Reading history creates no room: asking for the
    /// history of ever new names must not grow the table (a room with no row has no
    /// messages, and no epoch yet: the first join or message gives it one).
    private func existingPosition(room: String) async throws -> RoomPosition? {
        try await database.run { connection in
            for try await (epoch, seq) in try await connection.sql(
                "SELECT epoch, seq FROM switchboard_rooms WHERE room = \(room)"
            ).decode((String, Int).self) {
                return RoomPosition(epoch: epoch, seq: seq)
            }
            return nil
        }
    }

    /// Messages of `room` after `seq`, oldest first, at most `limit`: what a node fetches when
    /// a notification did not carry the message or was lost.
    func messages(of room: String, after seq: Int, limit: Int) async throws -> [StoredMessage] {
        try await messages(
            "SELECT seq, sender, body, sent FROM switchboard_messages WHERE room = \(room) AND seq > \(seq) ORDER BY seq LIMIT \(limit)",
            room: room
        )
    }

    private func messages(_ query: PostgresQuery, room: String) async throws -> [StoredMessage] {
        try await database.run { connection in
            var messages: [StoredMessage] = []
            for try await (seq, sender, body, sent) in try await connection.sql(query).decode((Int, String, String, Date).self) {
                messages.append(StoredMessage(room: room, seq: seq, from: sender, message: body, sent: sent))
            }
            return messages
        }
    }
}
