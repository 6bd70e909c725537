/// `join_room`: joins `room`; with `since` (and the `epoch` it belongs to), resumes after the
/// last message seen.
public struct JoinRoomRequest: Codable, Sendable, Equatable {
    public var room: String
    public var since: Int?
    public var epoch: String?

    public init(room: String, since: Int? = nil, epoch: String? = nil) {
        self.room = room
        self.since = since
        self.epoch = epoch
    }
}
