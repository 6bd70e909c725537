import Logging
import NIOCore

/// What an event handler knows about the event it handles.
public struct EventContext: Sendable {
    public let connection: Connection
    public let hub: Hub
    /// The client's `id`, if it sent one: then exactly one reply is due.
    public let id: EventID?
    public let logger: Logger

    /// The ack frame for this event, or nil when the client sent no `id` (no reply is due).
    public func ackFrame<Payload: Encodable>(_ payload: Payload) throws -> OutboundFrame? {
        guard let id else { return nil }
        return try EventEncoding.ack(id: id, payload: payload)
    }

    /// Sends a server event to this connection only.
    public func send<Payload: Encodable>(type: String, payload: Payload) throws {
        connection.send(try EventEncoding.frame(type: type, payload: payload))
    }
}

/// How a handler answered.
public enum EventReply: Sendable {
    /// Ack with this payload (sent only if the event had an `id`).
    case ack(any Encodable & Sendable)
    /// The handler sent its reply itself (for example through `Hub.completeJoin`).
    case replied
}
