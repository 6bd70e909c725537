import NIOCore
import NIOWebSocket

/// Cuts a client's byte stream into WebSocket frames (RFC 6455 §5.2), inside the connection's
/// own handler.
///
/// NIO's `WebSocketFrameDecoder` does the same job as a `ByteToMessageHandler` of its own:
/// that handler, its pipeline context and its two ring buffers cost about 540 bytes on every
/// connection for as long as it lives, more than a tenth of an idle connection (heaptrack,
/// see BENCHMARKS.md). This parser holds nothing between frames: the bytes of an incomplete
/// frame, and only while there are some. It enforces what the decoder enforced before any
/// payload is buffered (frame size, control frames whole and at most 125 bytes); every other
/// framing rule stays with `InboundMessageAssembler`. Errors are NIO's, so their close codes
/// are unchanged.
struct WebSocketFrameParser {
    let maxFrameSize: Int
    /// Bytes read from the socket that do not yet make a whole frame.
    private var pending: ByteBuffer?

    init(maxFrameSize: Int) {
        self.maxFrameSize = maxFrameSize
    }

    /// Whether part of a frame is waiting for more bytes.
    var hasPartialFrame: Bool { pending.map { $0.readableBytes > 0 } ?? false }

    mutating func append(_ bytes: ByteBuffer) {
        if pending == nil || pending!.readableBytes == 0 {
            pending = bytes
        } else {
            pending!.writeImmutableBuffer(bytes)
        }
    }

    /// The next whole frame, or nil when more bytes are needed. Throws on a frame the server
    /// will not take; after that the stream cannot be parsed further.
    mutating func next() throws -> WebSocketFrame? {
        guard var buffer = pending else { return nil }
        defer { if pending != nil, pending!.readableBytes == 0 { pending = nil } }
        let start = buffer.readerIndex
        guard let first = buffer.readInteger(as: UInt8.self), let second = buffer.readInteger(as: UInt8.self) else {
            return nil
        }
        var length = Int(second & 0x7F)
        if length == 126 {
            guard let word = buffer.readInteger(as: UInt16.self) else { return nil }
            length = Int(word)
        } else if length == 127 {
            guard let qword = buffer.readInteger(as: UInt64.self) else { return nil }
            guard qword <= UInt64(maxFrameSize) else { throw NIOWebSocketError.invalidFrameLength }
            length = Int(qword)
        }
        guard length <= maxFrameSize else { throw NIOWebSocketError.invalidFrameLength }
        let isControl = first & 0x08 != 0
        if isControl, first & 0x80 == 0 { throw NIOWebSocketError.fragmentedControlFrame }
        if isControl, length > 125 { throw NIOWebSocketError.multiByteControlFrameLength }
        var maskKey: WebSocketMaskingKey?
        if second & 0x80 != 0 {
            guard buffer.readableBytes >= 4 else { return nil }
            let keyStart = buffer.readerIndex
            maskKey = WebSocketMaskingKey(buffer.readableBytesView[keyStart..<(keyStart + 4)])
            buffer.moveReaderIndex(forwardBy: 4)
        }
        guard let data = buffer.readSlice(length: length) else {
            // Not all here yet: keep the header too, it is parsed again with the rest.
            buffer.moveReaderIndex(to: start)
            pending = buffer
            return nil
        }
        pending = buffer
        return WebSocketFrame(
            fin: first & 0x80 != 0, rsv1: first & 0x40 != 0, rsv2: first & 0x20 != 0, rsv3: first & 0x10 != 0,
            opcode: WebSocketOpcode(encodedWebSocketOpcode: first & 0x0F)!, maskKey: maskKey, data: data
        )
    }
}
