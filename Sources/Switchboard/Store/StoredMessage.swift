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

/// What an append did: stored a new message, or recognised a resend (same user, room and
/// idempotency key) of the message that already has `seq`.
public enum AppendOutcome: Sendable, Equatable {
    case stored(StoredMessage)
    case duplicate(seq: Int)

    public var seq: Int {
        switch self {
        case .stored(let message): message.seq
        case .duplicate(let seq): seq
        }
    }
}

/// One life of a room's stream (`epoch`, opaque) and the last `seq` assigned in it.
public struct RoomPosition: Sendable, Equatable {
    public var epoch: String
    public var seq: Int

    public init(epoch: String, seq: Int) {
        self.epoch = epoch
        self.seq = seq
    }
}

/// A slice of a room's history.
public struct HistorySlice: Sendable, Equatable {
    public var messages: [StoredMessage]
    /// False when messages that were asked for are no longer kept (the client missed some).
    public var complete: Bool
    /// True when kept messages lie beyond this slice in the direction it was read.
    public var more: Bool
    /// The room life the messages belong to.
    public var epoch: String

    public init(messages: [StoredMessage], complete: Bool, more: Bool = false, epoch: String = "") {
        self.messages = messages
        self.complete = complete
        self.more = more
        self.epoch = epoch
    }
}
