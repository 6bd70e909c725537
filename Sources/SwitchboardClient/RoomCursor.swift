/// The last message seen in a joined room: where a rejoin resumes from.
struct RoomCursor: Sendable, Equatable {
    var epoch: String
    var lastSeq: Int
}
