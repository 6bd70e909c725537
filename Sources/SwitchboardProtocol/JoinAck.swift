/// The ack of `join_room` and `change_room`.
public struct JoinAck: Codable, Sendable, Equatable {
    public var room: String
    public var members: [String]
    /// The room's last `seq` at the join; live messages follow it.
    public var seq: Int
    public var epoch: String
    public var history: [NewMessage]
    /// The recovery did not fit: fetch the rest with `history`.
    public var more: Bool
    /// Present when the join gave `since`: whether no message was missing.
    public var recovered: Bool?

    public init(
        room: String, members: [String], seq: Int, epoch: String, history: [NewMessage], more: Bool, recovered: Bool?
    ) {
        self.room = room
        self.members = members
        self.seq = seq
        self.epoch = epoch
        self.history = history
        self.more = more
        self.recovered = recovered
    }
}
