import Foundation

/// Where rooms' messages, sequence numbers, epochs and history live.
///
/// The hub never calls it: event handlers do, so a database-backed store (PostgreSQL, with
/// `seq` assigned by the database) can replace the in-memory default without touching the hub.
/// Every operation is async for that reason.
public protocol RoomStore: Sendable {
    /// Stores a message and assigns it the room's next `seq` (the first is 1; no gaps).
    ///
    /// With an `idempotencyKey`, a second append by the same user to the same room with the
    /// same key within the store's idempotency window (at least 5 minutes) stores nothing and
    /// answers `.duplicate` with the first append's `seq`. The check lives here, not in the
    /// handler, because only the store sees every node's appends.
    func append(room: String, from: String, message: String, sent: Date, idempotencyKey: String?) async throws -> AppendOutcome

    /// The room's current epoch and highest assigned `seq` (0 if none). Names the room's life:
    /// asking twice in one life answers the same epoch.
    func position(room: String) async throws -> RoomPosition

    /// Messages with `after < seq <= through`, oldest first, at most `limit` (the oldest ones:
    /// a reader pages forward from where it stopped). `more` tells whether kept messages in the
    /// range were left out; `complete` whether every message from `after + 1` on was still kept.
    func history(room: String, after: Int, through: Int, limit: Int) async throws -> HistorySlice

    /// The newest `limit` messages with `seq < before`, oldest first. `more` tells whether
    /// older kept messages exist.
    func history(room: String, before: Int, limit: Int) async throws -> HistorySlice
}

extension RoomStore {
    /// An append without an idempotency key (always stored).
    public func append(room: String, from: String, message: String, sent: Date) async throws -> StoredMessage {
        switch try await append(room: room, from: from, message: message, sent: sent, idempotencyKey: nil) {
        case .stored(let stored): return stored
        case .duplicate: preconditionFailure("an append without a key is never a duplicate")
        }
    }

    /// The highest `seq` assigned in `room`, 0 if none.
    public func latestSeq(room: String) async throws -> Int {
        try await position(room: room).seq
    }
}
