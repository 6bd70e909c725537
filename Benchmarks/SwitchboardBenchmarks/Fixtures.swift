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
