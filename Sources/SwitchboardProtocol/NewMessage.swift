/// `new_message`, and each entry of a join's or history's messages.
public struct NewMessage: Codable, Sendable, Equatable {
    public var room: String
    public var from: String
    public var message: String
    /// The server's clock, RFC 3339 UTC with milliseconds (see `Timestamp`).
    public var sent: String
    public var seq: Int

    public init(room: String, from: String, message: String, sent: String, seq: Int) {
        self.room = room
        self.from = from
        self.message = message
        self.sent = sent
        self.seq = seq
    }
}
