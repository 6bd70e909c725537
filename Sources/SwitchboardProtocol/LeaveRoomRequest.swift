/// `leave_room`.
public struct LeaveRoomRequest: Codable, Sendable, Equatable {
    public var room: String

    public init(room: String) { self.room = room }
}
