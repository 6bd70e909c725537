/// The ack of `send_message`, sent once the message is stored.
public struct SendAck: Codable, Sendable, Equatable {
    public var room: String
    public var seq: Int

    public init(room: String, seq: Int) {
        self.room = room
        self.seq = seq
    }
}
