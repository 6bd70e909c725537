import SwitchboardProtocol

/// What `join(_:)` returns.
public struct JoinResult: Sendable, Equatable {
    public var room: String
    public var members: [String]
    /// The room's last `seq` at the join; live messages on `events` follow it.
    public var seq: Int
    public var epoch: String
    /// The latest messages, oldest first.
    public var history: [NewMessage]
    /// Present when the join resumed from a known position: whether nothing was missing.
    public var recovered: Bool?
}
