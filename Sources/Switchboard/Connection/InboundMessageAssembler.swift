import NIOCore
import NIOWebSocket

/// Turns client frames into whole messages, enforcing RFC 6455 framing rules and the
/// inbound size limit. A value type with no I/O: every rule is unit-testable.
public struct InboundMessageAssembler: Sendable {
    public enum Kind: Sendable, Equatable { case text, binary }

    public enum Output: Sendable, Equatable {
        /// Nothing to do yet (a fragment was buffered).
        case none
        case message(Kind, ByteBuffer)
        case ping(ByteBuffer)
        case pong
        /// A close frame; `nil` code when the frame had no payload.
        case close(CloseCode?)
        /// The peer broke the protocol: close with this code.
        case violation(CloseCode, String)
    }

    private var partial: (kind: Kind, buffer: ByteBuffer, utf8: UTF8Validator, compressed: Bool)?
    public let maxMessageSize: Int
    /// Set when permessage-deflate was negotiated: then RSV1 on a message's first frame means
    /// the message is compressed (RFC 7692 §6).
    private let inflater: PerMessageDeflate.Inflater?

    public init(maxMessageSize: Int, inflater: PerMessageDeflate.Inflater? = nil) {
        self.maxMessageSize = maxMessageSize
        self.inflater = inflater
    }

    public mutating func receive(_ frame: WebSocketFrame) -> Output {
        // RFC 6455 §5.1: a server MUST close the connection on an unmasked client frame.
        guard let mask = frame.maskKey else { return .violation(.protocolError, "unmasked client frame") }
        // Reserved bits must be zero unless an extension gives them a meaning (§5.2): RSV1
        // marks a compressed message, only on its first frame (RFC 7692 §6.1).
        if frame.rsv2 || frame.rsv3 { return .violation(.protocolError, "reserved bit set") }
        if frame.rsv1, inflater == nil || !(frame.opcode == .text || frame.opcode == .binary) {
            return .violation(.protocolError, "reserved bit set")
        }
        var data = frame.data
        data.webSocketUnmask(mask)

        switch frame.opcode {
        case .ping, .pong, .connectionClose:
            // Control frames must not be fragmented and carry at most 125 bytes (§5.5).
            guard frame.fin, data.readableBytes <= 125 else {
                return .violation(.protocolError, "bad control frame")
            }
            if frame.opcode == .ping { return .ping(data) }
            if frame.opcode == .pong { return .pong }
            return Self.parseClose(data)
        case .text, .binary:
            guard partial == nil else { return .violation(.protocolError, "new message inside a fragmented one") }
            let kind: Kind = frame.opcode == .text ? .text : .binary
            if frame.rsv1, let inflater {
                var buffer = ByteBufferAllocator().buffer(capacity: min(maxMessageSize + 1, max(256, data.readableBytes * 3)))
                return inflate(inflater, kind: kind, data: &data, buffer: &buffer, utf8: UTF8Validator(), fin: frame.fin)
            }
            return accumulate(kind: kind, data: data, utf8: UTF8Validator(), fin: frame.fin)
        case .continuation:
            guard let current = partial else { return .violation(.protocolError, "continuation without a message") }
            partial = nil
            if current.compressed, let inflater {
                var buffer = current.buffer
                return inflate(inflater, kind: current.kind, data: &data, buffer: &buffer, utf8: current.utf8, fin: frame.fin)
            }
            var buffer = current.buffer
            guard buffer.readableBytes + data.readableBytes <= maxMessageSize else {
                return .violation(.messageTooBig, "message exceeds \(maxMessageSize) bytes")
            }
            var utf8 = current.utf8
            if current.kind == .text, !utf8.feed(data.readableBytesView) {
                return .violation(.invalidPayload, "invalid UTF-8")
            }
            buffer.writeImmutableBuffer(data)
            return finish(kind: current.kind, buffer: buffer, utf8: utf8, fin: frame.fin)
        default:
            return .violation(.protocolError, "unknown opcode")
        }
    }

    private mutating func accumulate(kind: Kind, data: ByteBuffer, utf8: UTF8Validator, fin: Bool) -> Output {
        guard data.readableBytes <= maxMessageSize else {
            return .violation(.messageTooBig, "message exceeds \(maxMessageSize) bytes")
        }
        var utf8 = utf8
        if kind == .text, !utf8.feed(data.readableBytesView) {
            return .violation(.invalidPayload, "invalid UTF-8")
        }
        return finish(kind: kind, buffer: data, utf8: utf8, fin: fin)
    }

    private mutating func finish(kind: Kind, buffer: ByteBuffer, utf8: UTF8Validator, fin: Bool, compressed: Bool = false) -> Output {
        if fin {
            if kind == .text, !utf8.isComplete { return .violation(.invalidPayload, "truncated UTF-8") }
            return .message(kind, buffer)
        }
        partial = (kind, buffer, utf8, compressed)
        return .none
    }

    /// Inflates a frame of a compressed message onto what the earlier frames gave; size and
    /// UTF-8 are checked on the decompressed bytes, as they come out.
    private mutating func inflate(
        _ inflater: PerMessageDeflate.Inflater, kind: Kind, data: inout ByteBuffer, buffer: inout ByteBuffer,
        utf8: UTF8Validator, fin: Bool
    ) -> Output {
        let checked = buffer.writerIndex
        do throws(PerMessageDeflate.Inflater.Failure) {
            try inflater.inflate(&data, into: &buffer, limit: maxMessageSize)
            if fin { try inflater.finishMessage(into: &buffer, limit: maxMessageSize) }
        } catch {
            inflater.reset()
            switch error {
            case .tooBig: return .violation(.messageTooBig, "message inflates to more than \(maxMessageSize) bytes")
            case .corrupt: return .violation(.invalidPayload, "invalid compressed data")
            }
        }
        var utf8 = utf8
        if kind == .text, let fresh = buffer.viewBytes(at: checked, length: buffer.writerIndex - checked), !utf8.feed(fresh) {
            return .violation(.invalidPayload, "invalid UTF-8")
        }
        return finish(kind: kind, buffer: buffer, utf8: utf8, fin: fin, compressed: true)
    }

    private static func parseClose(_ data: ByteBuffer) -> Output {
        var data = data
        if data.readableBytes == 0 { return .close(nil) }
        guard let raw = data.readInteger(as: UInt16.self) else {
            return .violation(.protocolError, "close frame with a 1-byte payload")
        }
        let code = CloseCode(rawValue: raw)
        guard code.isValidOnWire else { return .violation(.protocolError, "invalid close code \(raw)") }
        var utf8 = UTF8Validator()
        guard utf8.feed(data.readableBytesView), utf8.isComplete else {
            return .violation(.invalidPayload, "close reason is not UTF-8")
        }
        return .close(code)
    }
}
