/// `history`: one page of a room's retained messages after `since` or before `before`.
public struct HistoryRequest: Codable, Sendable, Equatable {
    public var room: String
    public var since: Int?
    public var before: Int?
    public var limit: Int?

    public init(room: String, since: Int? = nil, before: Int? = nil, limit: Int? = nil) {
        self.room = room
        self.since = since
        self.before = before
        self.limit = limit
    }
}
