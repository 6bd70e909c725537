import Foundation

/// An event as sent, `{"type": T, "id": I, "payload": P}`: what a client writes and what the
/// server replies with.
public struct OutgoingEvent<Payload: Encodable>: Encodable {
    public var type: String
    public var id: EventID?
    public var payload: Payload

    public init(type: String, id: EventID? = nil, payload: Payload) {
        self.type = type
        self.id = id
        self.payload = payload
    }

    /// The event as one JSON text message.
    public func json() throws -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.withoutEscapingSlashes]
        return try encoder.encode(self)
    }
}
