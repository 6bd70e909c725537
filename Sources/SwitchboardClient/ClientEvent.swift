import SwitchboardProtocol

/// What arrives on `SwitchboardClient.events`.
public enum ClientEvent: Sendable, Equatable {
    /// A room's message, each exactly once and in `seq` order per room, including those caught
    /// up after a reconnect.
    case newMessage(NewMessage)
    case userJoined(room: String, user: String)
    case userLeft(room: String, user: String)
    /// After a reconnect the room was caught up with nothing missing.
    case recovered(room: String)
    /// After a reconnect messages were missed for good (the room's stream restarted: a new
    /// epoch, or history no longer retained); `epoch` is the room's new one.
    case gap(room: String, epoch: String)
    /// After a reconnect the server refused to rejoin the room (e.g. `too_many_rooms` with a
    /// lower limit): the client is no longer in it.
    case lostRoom(room: String, error: SwitchboardClientError)
}
