/// Who is in a room across every node of a cluster. A single node needs none: its hub
/// knows every member.
public protocol PresenceDirectory: Sendable {
    /// The room's users on every node, as `joiner` should see them when its join is
    /// answered (it included); `local` are this node's users, from the hub.
    func members(of room: String, joiner: String, local: [String]) async throws -> [String]
}
