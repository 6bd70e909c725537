/// The payload of `user_joined` and `user_left`.
public struct PresenceChange: Codable, Sendable, Equatable {
    public var room: String
    public var user: String

    public init(room: String, user: String) {
        self.room = room
        self.user = user
    }
}
