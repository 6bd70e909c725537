import Foundation
import NIOCore

/// Builds server events (`{"type", "id", "payload"}`) as ready-to-send frames.
public enum EventEncoding {
    /// A payload that is `JSONWritable` is written by hand straight into the frame's buffer;
    /// any other `Encodable` (an application's own payloads) goes through `JSONEncoder`.
    public static func frame<Payload: Encodable>(
        type: String, id: EventID? = nil, payload: Payload, allocator: ByteBufferAllocator = .init()
    ) throws -> OutboundFrame {
        // A dynamic cast, not an overload: the router hands over its acks as
        // `any Encodable & Sendable`, where no overload would be picked.
        if let writable = payload as? any JSONWritable {
            return frame(type: type, id: id, writing: writable, allocator: allocator)
        }
        let json = try OutgoingEvent(type: type, id: id, payload: payload).json()
        return OutboundFrame.text(allocator: allocator, capacity: json.count) { $0.writeBytes(json) }
    }

    public static func ack<Payload: Encodable>(id: EventID, payload: Payload, allocator: ByteBufferAllocator = .init()) throws -> OutboundFrame {
        try frame(type: "ack", id: id, payload: payload, allocator: allocator)
    }

    public static func error(_ error: EventError, id: EventID?, allocator: ByteBufferAllocator = .init()) -> OutboundFrame {
        frame(type: "error", id: id, writing: ErrorPayload(code: error.code, message: error.message), allocator: allocator)
    }

    /// The envelope `OutgoingEvent` encodes (`id` left out when nil), hand-written.
    private static func frame(type: String, id: EventID?, writing payload: some JSONWritable, allocator: ByteBufferAllocator) -> OutboundFrame {
        let capacity = 32 + type.utf8.count + (id?.jsonSizeEstimate ?? 0) + payload.jsonSizeEstimate
        return OutboundFrame.text(allocator: allocator, capacity: capacity) { buffer in
            buffer.writeStaticString(#"{"type":"#)
            buffer.writeJSONString(type)
            if let id {
                buffer.writeStaticString(#","id":"#)
                id.writeJSON(into: &buffer)
            }
            buffer.writeStaticString(#","payload":"#)
            payload.writeJSON(into: &buffer)
            buffer.writeStaticString("}")
        }
    }
}
