/// A user appeared in or vanished from a room: their first connection joined, or their last
/// one left or went away. Presence is per user, not per connection.
public struct PresenceChange: Sendable, Equatable {
    public enum Kind: Sendable, Equatable { case joined, left }
    public var kind: Kind
    public var room: String
    public var user: String

    public init(kind: Kind, room: String, user: String) {
        self.kind = kind
        self.room = room
        self.user = user
    }
}
