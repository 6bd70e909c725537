/// The `type` of every event in PROTOCOL.md.
public enum EventType {
    public static let joinRoom = "join_room"
    public static let leaveRoom = "leave_room"
    public static let sendMessage = "send_message"
    public static let changeRoom = "change_room"
    public static let history = "history"
    public static let ack = "ack"
    public static let error = "error"
    public static let newMessage = "new_message"
    public static let userJoined = "user_joined"
    public static let userLeft = "user_left"
}
