import Foundation
import NIOCore

/// Builds server events (`{"type", "id", "payload"}`) as ready-to-send frames.
public enum EventEncoding {
    public static func frame<Payload: Encodable>(
        type: String, id: EventID? = nil, payload: Payload, allocator: ByteBufferAllocator = .init()
    ) throws -> OutboundFrame {
        let json = try OutgoingEvent(type: type, id: id, payload: payload).json()
        return OutboundFrame.text(allocator: allocator, capacity: json.count) { $0.writeBytes(json) }
    }

    public static func ack<Payload: Encodable>(id: EventID, payload: Payload, allocator: ByteBufferAllocator = .init()) throws -> OutboundFrame {
        try frame(type: "ack", id: id, payload: payload, allocator: allocator)
    }

    public static func error(_ error: EventError, id: EventID?, allocator: ByteBufferAllocator = .init()) -> OutboundFrame {
        // Encoding two strings cannot fail.
        try! frame(type: "error", id: id, payload: ErrorPayload(code: error.code, message: error.message), allocator: allocator)
    }
}
