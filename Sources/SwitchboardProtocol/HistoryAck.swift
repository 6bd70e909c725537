/// The ack of `history`.
public struct HistoryAck: Codable, Sendable, Equatable {
    public var room: String
    public var epoch: String
    public var messages: [NewMessage]
    /// More retained messages lie beyond this page, in the direction asked.
    public var more: Bool

    public init(room: String, epoch: String, messages: [NewMessage], more: Bool) {
        self.room = room
        self.epoch = epoch
        self.messages = messages
        self.more = more
    }
}
