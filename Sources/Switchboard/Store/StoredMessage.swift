import Foundation

/// A message as the store keeps it: `seq` is assigned by the store, gapless per room.
public struct StoredMessage: Sendable, Equatable, Codable {
    public var room: String
    public var seq: Int
    public var from: String
    public var message: String
    public var sent: Date

    public init(room: String, seq: Int, from: String, message: String, sent: Date) {
        self.room = room
        self.seq = seq
        self.from = from
        self.message = message
        self.sent = sent
    }
}

/// A slice of a room's history.
public struct HistorySlice: Sendable, Equatable {
    public var messages: [StoredMessage]
    /// False when messages that were asked for are no longer kept (the client missed some).
    public var complete: Bool

    public init(messages: [StoredMessage], complete: Bool) {
        self.messages = messages
        self.complete = complete
    }
}
