import Foundation
import Logging
import Metrics
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
/// is `internal`; a `StoreUnavailableError` is `unavailable`), and the connection stays open.
public struct EventRouter: Sendable {
    public typealias Handler = @Sendable (Envelope, EventContext) async throws -> EventReply

    private var handlers: [String: Handler] = [:]
    private let eventsIn = Counter(label: "switchboard_events_in_total")

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
        eventsIn.increment()
        guard message.kind == .text else {
            reply(error: EventError(.badEvent, "binary messages are not events"), id: nil, to: connection)
            return
        }
        let envelope: Envelope
        do {
            envelope = try Envelope.decode(Data(message.data.readableBytesView))
        } catch {
            reply(error: error.error, id: error.id, to: connection)
            return
        }
        if message.verdict == .refuse {
            reply(error: EventError(.rateLimited, "too many events; slow down"), id: envelope.id, to: connection)
            return
        }
        guard let handler = handlers[envelope.type] else {
            reply(error: EventError(.unknownEvent, "unknown event type \"\(envelope.type)\""), id: envelope.id, to: connection)
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
            reply(error: error, id: envelope.id, to: connection)
        } catch let error as StoreUnavailableError {
            logger.debug("store unavailable", metadata: ["type": "\(envelope.type)", "reason": "\(error.reason)"])
            reply(error: EventError(.unavailable, "storage unreachable; not handled, try again"), id: envelope.id, to: connection)
        } catch {
            logger.error("event handler failed", metadata: ["type": "\(envelope.type)", "error": "\(error)"])
            reply(error: EventError(.internal, "internal error"), id: envelope.id, to: connection)
        }
    }

    private func reply(error: EventError, id: EventID?, to connection: Connection) {
        Counter(label: "switchboard_event_errors_total", dimensions: [("code", error.code.rawValue)]).increment()
        connection.send(EventEncoding.error(error, id: id))
    }
}
