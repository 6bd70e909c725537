/// `change_room`: leaves every room, then joins `name`.
public struct ChangeRoomRequest: Codable, Sendable, Equatable {
    public var name: String

    public init(name: String) { self.name = name }
}
