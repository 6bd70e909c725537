import Foundation
import NIOCore
import NIOWebSocket
import Switchboard

/// Inputs shared by the benchmarks, built once outside the measured region.
enum Fixtures {
    /// A typical client `send_message` event, as the router gets it (125 bytes).
    static let sendMessageJSON = Data(
        #"{"type":"send_message","id":42,"payload":{"room":"general","message":"Hey all, the deploy finished - anyone seeing errors?"}}"#
            .utf8
    )

    /// The shape of SwitchboardChat's (internal) `ChatEvents.SendMessage` payload.
    struct SendMessage: Decodable, Sendable {
        var room: String
        var message: String
    }

    /// A message as the store returns it, the input of `new_message` encoding.
    static let storedMessage = StoredMessage(
        room: "general", seq: 12345, from: "alice",
        message: "Hey all, the deploy finished - anyone seeing errors?",
        sent: Date(timeIntervalSince1970: 1_795_000_000.123)
    )

    /// A masked, final 100-byte text frame, as `WebSocketFrameDecoder` hands it on.
    static let maskedTextFrame: WebSocketFrame = {
        let text = #"{"type":"send_message","payload":{"room":"general","message":"see you all at the standup in 5 min"}}"#
        precondition(text.utf8.count == 100, "frame payload must be 100 bytes, is \(text.utf8.count)")
        var data = ByteBufferAllocator().buffer(capacity: 100)
        data.writeString(text)
        let mask: WebSocketMaskingKey = [0x37, 0xFA, 0x21, 0x3D]
        data.webSocketMask(mask)
        return WebSocketFrame(fin: true, opcode: .text, maskKey: mask, data: data)
    }()

    /// A masked, final 4096-byte text frame of `mixedText4K`.
    static let maskedText4KFrame: WebSocketFrame = {
        var data = mixedText4K
        let mask: WebSocketMaskingKey = [0x37, 0xFA, 0x21, 0x3D]
        data.webSocketMask(mask)
        return WebSocketFrame(fin: true, opcode: .text, maskKey: mask, data: data)
    }()

    /// 4096 bytes of ASCII text.
    static let asciiText4K: ByteBuffer = text4K(unit: "The quick brown fox jumps over the lazy dog. ")

    /// 4096 bytes of mixed text: ASCII, 2-, 3- and 4-byte sequences (about 60% of the bytes non-ASCII).
    static let mixedText4K: ByteBuffer = text4K(unit: "Grüße, señor! Привет, 世界 👋🏽 café ")

    private static func text4K(unit: String) -> ByteBuffer {
        var bytes: [UInt8] = []
        let unitBytes = Array(unit.utf8)
        while bytes.count + unitBytes.count <= 4096 { bytes += unitBytes }
        while bytes.count < 4096 { bytes.append(UInt8(ascii: ".")) }
        precondition(String(validating: bytes, as: UTF8.self) != nil)
        var buffer = ByteBufferAllocator().buffer(capacity: 4096)
        buffer.writeBytes(bytes)
        return buffer
    }
}

/// The same bytes as SwitchboardChat's `ChatFrames.newMessage`, which is internal to that
/// module: a copy of its code on the public `OutboundFrame.text` + `writeJSONString`.
/// Keep in step with `Sources/SwitchboardChat/ChatFrames.swift`.
enum NewMessageFrame {
    static func make(_ message: StoredMessage, allocator: ByteBufferAllocator) -> OutboundFrame {
        OutboundFrame.text(allocator: allocator, capacity: 96 + message.message.utf8.count + message.room.utf8.count) { buffer in
            buffer.writeStaticString(#"{"type":"new_message","payload":"#)
            buffer.writeStaticString(#"{"room":"#)
            buffer.writeJSONString(message.room)
            buffer.writeStaticString(#","from":"#)
            buffer.writeJSONString(message.from)
            buffer.writeStaticString(#","message":"#)
            buffer.writeJSONString(message.message)
            buffer.writeStaticString(#","sent":""#)
            buffer.writeString(rfc3339(message.sent))
            buffer.writeStaticString(#"","seq":"#)
            buffer.writeString(String(message.seq))
            buffer.writeStaticString("}")
            buffer.writeStaticString("}")
        }
    }

    /// Copy of SwitchboardChat's internal `Timestamp.rfc3339`.
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
