import NIOCore
import NIOWebSocket

/// A complete, ready-to-write server WebSocket frame: header and payload in one buffer.
///
/// Broadcasts build the frame once and hand the same buffer to every member, so a delivery
/// costs a reference-count increment and a `write`, never an encode or a copy.
public struct OutboundFrame: Sendable {
    public let bytes: ByteBuffer

    /// The largest server frame header: 2 bytes + 8-byte length, no mask.
    public static let maxHeaderSize = 10

    public init(prebuilt bytes: ByteBuffer) { self.bytes = bytes }

    /// A text frame whose payload is written by `body` into a buffer that already has room
    /// for the header, so the frame is built in a single allocation.
    public static func text(
        allocator: ByteBufferAllocator,
        capacity: Int = 256,
        _ body: (inout ByteBuffer) throws -> Void
    ) rethrows -> OutboundFrame {
        var buffer = allocator.buffer(capacity: capacity + maxHeaderSize)
        buffer.moveWriterIndex(forwardBy: maxHeaderSize)
        buffer.moveReaderIndex(forwardBy: maxHeaderSize)
        try body(&buffer)
        let payloadLength = buffer.readableBytes
        let headerSize = Self.headerSize(payloadLength)
        let start = maxHeaderSize - headerSize
        Self.writeHeader(into: &buffer, at: start, opcode: .text, payloadLength: payloadLength)
        buffer.moveReaderIndex(to: start)
        return OutboundFrame(prebuilt: buffer)
    }

    /// A frame around an existing payload (pings, pongs, close frames, echoes).
    public static func frame(opcode: WebSocketOpcode, payload: ByteBuffer, allocator: ByteBufferAllocator) -> OutboundFrame {
        let headerSize = Self.headerSize(payload.readableBytes)
        var buffer = allocator.buffer(capacity: headerSize + payload.readableBytes)
        buffer.moveWriterIndex(forwardBy: headerSize)
        Self.writeHeader(into: &buffer, at: 0, opcode: opcode, payloadLength: payload.readableBytes)
        buffer.writeImmutableBuffer(payload)
        return OutboundFrame(prebuilt: buffer)
    }

    public static func text(_ string: String, allocator: ByteBufferAllocator) -> OutboundFrame {
        text(allocator: allocator, capacity: string.utf8.count) { $0.writeString(string) }
    }

    public static func close(_ code: CloseCode, reason: String = "", allocator: ByteBufferAllocator) -> OutboundFrame {
        var payload = allocator.buffer(capacity: 2 + reason.utf8.count)
        payload.writeInteger(code.rawValue)
        // A control frame's payload is capped at 125 bytes (RFC 6455 §5.5): cut the reason to
        // 123 bytes, backing off to a character boundary so it stays valid UTF-8.
        var utf8 = Array(reason.utf8)
        if utf8.count > 123 {
            var end = 123
            while end > 0, utf8[end] & 0xC0 == 0x80 { end -= 1 }
            utf8.removeSubrange(end...)
        }
        payload.writeBytes(utf8)
        return frame(opcode: .connectionClose, payload: payload, allocator: allocator)
    }

    static func headerSize(_ payloadLength: Int) -> Int {
        if payloadLength <= 125 { return 2 }
        if payloadLength <= Int(UInt16.max) { return 4 }
        return 10
    }

    private static func writeHeader(into buffer: inout ByteBuffer, at index: Int, opcode: WebSocketOpcode, payloadLength: Int) {
        writeHeader(into: &buffer, at: index, firstByte: 0x80 | UInt8(webSocketOpcode: opcode), payloadLength: payloadLength)
    }

    /// Writes a server frame header (no mask) of `headerSize(payloadLength)` bytes at `index`;
    /// `firstByte` is FIN, the RSV bits and the opcode.
    static func writeHeader(into buffer: inout ByteBuffer, at index: Int, firstByte: UInt8, payloadLength: Int) {
        buffer.setInteger(firstByte, at: index)
        if payloadLength <= 125 {
            buffer.setInteger(UInt8(payloadLength), at: index + 1)
        } else if payloadLength <= Int(UInt16.max) {
            buffer.setInteger(UInt8(126), at: index + 1)
            buffer.setInteger(UInt16(payloadLength), at: index + 2)
        } else {
            buffer.setInteger(UInt8(127), at: index + 1)
            buffer.setInteger(UInt64(payloadLength), at: index + 2)
        }
    }
}
