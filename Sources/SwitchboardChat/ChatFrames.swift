import Foundation
import NIOCore
import Switchboard

/// The chat's server events, encoded once per message straight into a frame buffer.
enum ChatFrames {
    /// `{"type":"new_message","payload":{"room","from","message","sent","seq"}}`, hand-encoded:
    /// this is built once per message and then shared by every member.
    static func newMessage(_ message: StoredMessage, allocator: ByteBufferAllocator) -> OutboundFrame {
        OutboundFrame.text(allocator: allocator, capacity: 96 + message.message.utf8.count + message.room.utf8.count) { buffer in
            buffer.writeStaticString(#"{"type":"new_message","payload":"#)
            writePayload(message, into: &buffer)
            buffer.writeStaticString("}")
        }
    }

    static func writePayload(_ message: StoredMessage, into buffer: inout ByteBuffer) {
        buffer.writeStaticString(#"{"room":"#)
        buffer.writeJSONString(message.room)
        buffer.writeStaticString(#","from":"#)
        buffer.writeJSONString(message.from)
        buffer.writeStaticString(#","message":"#)
        buffer.writeJSONString(message.message)
        buffer.writeStaticString(#","sent":""#)
        buffer.writeString(Timestamp.rfc3339(message.sent))
        buffer.writeStaticString(#"","seq":"#)
        buffer.writeString(String(message.seq))
        buffer.writeStaticString("}")
    }

    static func presence(_ change: PresenceChange) -> OutboundFrame {
        OutboundFrame.text(allocator: ByteBufferAllocator(), capacity: 64 + change.room.utf8.count + change.user.utf8.count) { buffer in
            buffer.writeStaticString(#"{"type":""#)
            buffer.writeStaticString(change.kind == .joined ? "user_joined" : "user_left")
            buffer.writeStaticString(#"","payload":{"room":"#)
            buffer.writeJSONString(change.room)
            buffer.writeStaticString(#","user":"#)
            buffer.writeJSONString(change.user)
            buffer.writeStaticString("}}")
        }
    }
}

/// A history entry in a join ack: the same payload as `new_message`.
struct HistoryEntry: Encodable, Sendable {
    var message: StoredMessage

    enum CodingKeys: String, CodingKey { case room, from, message, sent, seq }

    func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(message.room, forKey: .room)
        try container.encode(message.from, forKey: .from)
        try container.encode(message.message, forKey: .message)
        try container.encode(Timestamp.rfc3339(message.sent), forKey: .sent)
        try container.encode(message.seq, forKey: .seq)
    }
}

/// RFC 3339 UTC with milliseconds, e.g. `2026-11-25T12:00:00.123Z`.
enum Timestamp {
    static func rfc3339(_ date: Date) -> String {
        let millisTotal = Int64((date.timeIntervalSince1970 * 1000).rounded(.down))
        var seconds = time_t(millisTotal / 1000)
        let millis = Int(millisTotal % 1000)
        var parts = tm()
        gmtime_r(&seconds, &parts)
        func pad(_ value: Int32, _ width: Int) -> String {
            let text = String(value)
            return String(repeating: "0", count: max(0, width - text.count)) + text
        }
        return "\(pad(parts.tm_year + 1900, 4))-\(pad(parts.tm_mon + 1, 2))-\(pad(parts.tm_mday, 2))T"
            + "\(pad(parts.tm_hour, 2)):\(pad(parts.tm_min, 2)):\(pad(parts.tm_sec, 2)).\(pad(Int32(millis), 3))Z"
    }
}
