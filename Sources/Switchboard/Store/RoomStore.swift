import Foundation

/// Where rooms' messages, sequence numbers and history live.
///
/// The hub never calls it: event handlers do, so a database-backed store (PostgreSQL, with
/// `seq` assigned by the database) can replace the in-memory default without touching the hub.
/// Every operation is async for that reason.
public protocol RoomStore: Sendable {
    /// Stores a message and assigns it the room's next `seq` (the first is 1; no gaps).
    func append(room: String, from: String, message: String, sent: Date) async throws -> StoredMessage

    /// The highest `seq` assigned in `room`, 0 if none.
    func latestSeq(room: String) async throws -> Int

    /// Messages with `after < seq <= through`, oldest first, at most `limit` (the newest ones
    /// when there are more). `complete` tells whether every such message was still kept.
    func history(room: String, after: Int, through: Int, limit: Int) async throws -> HistorySlice
}
