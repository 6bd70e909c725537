/// `send_message`. A resend with the same `idempotencyKey` to the same room by the same user
/// gets the original ack and delivers nothing new, so a client may retry across a reconnect.
public struct SendMessageRequest: Codable, Sendable, Equatable {
    public var room: String
    public var message: String
    public var idempotencyKey: String?

    enum CodingKeys: String, CodingKey {
        case room, message
        case idempotencyKey = "idempotency_key"
    }

    public init(room: String, message: String, idempotencyKey: String? = nil) {
        self.room = room
        self.message = message
        self.idempotencyKey = idempotencyKey
    }
}
