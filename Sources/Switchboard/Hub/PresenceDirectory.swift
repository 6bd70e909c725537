/// Who is in a room across every node of a cluster. A single node needs none: its hub
/// knows every member.
public protocol PresenceDirectory: Sendable {
    /// The room's users on every node: `local` (this node's, from the hub) and the others'.
    func members(of room: String, local: [String]) async throws -> [String]
}
