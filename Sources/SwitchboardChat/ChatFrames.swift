import Foundation
import NIOCore
import Switchboard

/// The chat's server events, encoded once per message straight into a frame buffer. Public so
/// the micro-benchmarks measure this very encoder.
public enum ChatFrames {
    /// `{"type":"new_message","payload":{"room","from","message","sent","seq"}}`, hand-encoded:
    /// this is built once per message and then shared by every member.
    public static func newMessage(_ message: StoredMessage, allocator: ByteBufferAllocator) -> OutboundFrame {
        OutboundFrame.text(allocator: allocator, capacity: 96 + message.message.utf8.count + message.room.utf8.count) { buffer in
            buffer.writeStaticString(#"{"type":"new_message","payload":"#)
            NewMessage(message: message).writeJSON(into: &buffer)
            buffer.writeStaticString("}")
        }
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
typealias HistoryEntry = NewMessage

extension NewMessage {
    init(message: StoredMessage) {
        self.init(
            room: message.room, from: message.from, message: message.message,
            sent: Timestamp.rfc3339(message.sent), seq: message.seq
        )
    }
}
