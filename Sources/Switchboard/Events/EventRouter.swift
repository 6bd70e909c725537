import Foundation
import Logging
import NIOCore

/// Routes client events by `type` to typed handlers.
///
/// ```swift
/// var router = EventRouter()
/// router.on("send_message", as: SendMessage.self) { payload, context in
///     SendAck(room: payload.room, seq: try await store.append(...))
/// }
/// ```
///
/// Every failure becomes an `error` event exactly as PROTOCOL.md says (`bad_json`,
/// `bad_event`, `unknown_event`, `bad_payload`, or the handler's `EventError`; anything else
/// is `internal`), and the connection stays open.
public struct EventRouter: Sendable {
    public typealias Handler = @Sendable (Envelope, EventContext) async throws -> EventReply

    private var handlers: [String: Handler] = [:]

    public init() {}

    /// Registers a handler whose return value is the ack's payload.
    public mutating func on<Payload: Decodable & Sendable, Ack: Encodable & Sendable>(
        _ type: String,
        as payloadType: Payload.Type,
        _ handler: @escaping @Sendable (Payload, EventContext) async throws -> Ack
    ) {
        handlers[type] = { envelope, context in
            let payload = try envelope.payload(as: Payload.self)
            return .ack(try await handler(payload, context))
        }
    }

    /// Registers a handler that decides how to reply (see `EventReply`).
    public mutating func on<Payload: Decodable & Sendable>(
        _ type: String,
        as payloadType: Payload.Type,
        replying handler: @escaping @Sendable (Payload, EventContext) async throws -> EventReply
    ) {
        handlers[type] = { envelope, context in
            try await handler(try envelope.payload(as: Payload.self), context)
        }
    }

    public var eventTypes: [String] { handlers.keys.sorted() }

    /// Handles one inbound message from `connection`.
    public func handle(_ message: InboundMessage, from connection: Connection, hub: Hub, logger: Logger) async {
        guard message.kind == .text else {
            connection.send(EventEncoding.error(EventError(.badEvent, "binary messages are not events"), id: nil))
            return
        }
        let envelope: Envelope
        do {
            envelope = try Envelope.decode(Data(message.data.readableBytesView))
        } catch {
            connection.send(EventEncoding.error(error.error, id: error.id))
            return
        }
        guard let handler = handlers[envelope.type] else {
            connection.send(EventEncoding.error(EventError(.unknownEvent, "unknown event type \"\(envelope.type)\""), id: envelope.id))
            return
        }
        let context = EventContext(connection: connection, hub: hub, id: envelope.id, logger: logger)
        do {
            switch try await handler(envelope, context) {
            case .ack(let payload):
                if let id = envelope.id { connection.send(try EventEncoding.ack(id: id, payload: payload)) }
            case .replied:
                break
            }
        } catch let error as EventError {
            connection.send(EventEncoding.error(error, id: envelope.id))
        } catch {
            logger.error("event handler failed", metadata: ["type": "\(envelope.type)", "error": "\(error)"])
            connection.send(EventEncoding.error(EventError(.internal, "internal error"), id: envelope.id))
        }
    }
}
