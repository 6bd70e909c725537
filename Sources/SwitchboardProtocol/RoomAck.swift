/// The ack of `leave_room`.
public struct RoomAck: Codable, Sendable, Equatable {
    public var room: String

    public init(room: String) { self.room = room }
}
