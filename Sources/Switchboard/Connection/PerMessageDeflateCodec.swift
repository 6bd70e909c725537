import CompressNIO
import NIOCore

extension PerMessageDeflate {
    /// Largest frame payload that can carry a compressed message of `messageSize` bytes:
    /// incompressible data grows a little under deflate (stored blocks), so the frame parser
    /// must allow slightly more than the message limit when compression may be negotiated.
    public static func maxCompressedSize(forMessageSize messageSize: Int) -> Int {
        messageSize + messageSize / 1024 + 64
    }

    /// The decompressor of one connection's inbound messages (raw DEFLATE, RFC 7692 §7.2.2).
    ///
    /// Confined to the connection's event loop, like the `InboundMessageAssembler` that owns it.
    public final class Inflater: @unchecked Sendable {
        public enum Failure: Error, Equatable {
            /// The message inflates to more than the limit (a zip bomb, or just too big): 1009.
            case tooBig
            /// Not valid DEFLATE data: 1007.
            case corrupt
        }

        private let decompressor: ZlibDecompressor
        private let noContextTakeover: Bool
        /// The peer ended its DEFLATE stream with a final block (BFINAL): nothing more can
        /// follow in this stream, so it starts afresh with the next message.
        private var streamEnded = false
        private static let tail: [UInt8] = [0x00, 0x00, 0xFF, 0xFF]

        /// - Parameter noContextTakeover: reset after every message (`client_no_context_takeover`).
        public init(noContextTakeover: Bool) throws {
            // The largest window decodes anything a smaller one was used for.
            self.decompressor = try ZlibDecompressor(algorithm: .deflate, windowSize: 15)
            self.noContextTakeover = noContextTakeover
        }

        /// Inflates one frame's compressed payload onto `output`, which may hold at most
        /// `limit` bytes in all.
        public func inflate(_ input: inout ByteBuffer, into output: inout ByteBuffer, limit: Int) throws(Failure) {
            guard input.readableBytes > 0 else { return }
            if streamEnded { throw .corrupt }
            try run(&input, into: &output, limit: limit)
            if input.readableBytes > 0 { throw .corrupt }
        }

        /// Ends the message: feeds the `00 00 ff ff` the sender removed (§7.2.2) and resets the
        /// stream when there is no context takeover.
        public func finishMessage(into output: inout ByteBuffer, limit: Int) throws(Failure) {
            defer {
                if noContextTakeover || streamEnded {
                    try? decompressor.reset()
                    streamEnded = false
                }
            }
            guard !streamEnded else { return }
            var tail = ByteBuffer(bytes: Self.tail)
            try run(&tail, into: &output, limit: limit)
        }

        /// Forgets the current stream (after a failed message the connection is closing anyway).
        public func reset() {
            try? decompressor.reset()
            streamEnded = false
        }

        private func run(_ input: inout ByteBuffer, into output: inout ByteBuffer, limit: Int) throws(Failure) {
            while true {
                if output.readableBytes > limit { throw .tooBig }
                if output.writableBytes == 0 {
                    // Grow geometrically, but never past one byte over the limit: the output of a
                    // zip bomb is cut off there, not allocated.
                    let room = limit + 1 - output.readableBytes
                    output.reserveCapacity(minimumWritableBytes: min(room, max(4096, output.readableBytes, input.readableBytes * 2)))
                }
                do {
                    try decompressor.inflate(from: &input, to: &output)
                    // Either all input went in and there was room to spare, or the stream ended.
                    if input.readableBytes > 0 { streamEnded = true }
                    break
                } catch let error as CompressNIOError where error == .bufferOverflow {
                    continue
                } catch let error as CompressNIOError where error == .inputBufferOverflow {
                    break  // all input consumed, nothing more to produce yet
                } catch {
                    throw .corrupt
                }
            }
            if output.readableBytes > limit { throw .tooBig }
        }
    }

    /// The compressor of one connection's outbound messages.
    ///
    /// Its LZ77 history belongs to this connection, so compressed frames cannot be shared
    /// between connections: the write path compresses each `OutboundFrame` here, on the
    /// connection's event loop, in the order the frames go on the wire.
    public final class Deflater: @unchecked Sendable {
        private let compressor: ZlibCompressor
        private let noContextTakeover: Bool

        public init(parameters: Parameters, configuration: Configuration) throws {
            let bits = parameters.serverMaxWindowBits ?? 15
            // zlib cannot deflate with a 256-byte window (raw windowBits 8). Run-length matches
            // (distance 1) are valid under any window, so a 512-byte compressor limited to
            // them never refers further back than the client's 256 bytes.
            let zlib = ZlibConfiguration(
                windowSize: Int32(max(bits, 9)),
                compressionLevel: Int32(configuration.compressionLevel),
                memoryLevel: Int32(configuration.memoryLevel),
                strategy: bits == 8 ? .rle : .default
            )
            self.compressor = try ZlibCompressor(algorithm: .deflate, configuration: zlib)
            self.noContextTakeover = parameters.serverNoContextTakeover
        }

        /// A compressed copy (RSV1 set) of a complete unfragmented text or binary frame; nil for
        /// anything else (control frames are never compressed) or if compression failed.
        public func compress(_ frame: OutboundFrame, allocator: ByteBufferAllocator) -> OutboundFrame? {
            let bytes = frame.bytes
            guard let first = bytes.getInteger(at: bytes.readerIndex, as: UInt8.self),
                  let second = bytes.getInteger(at: bytes.readerIndex + 1, as: UInt8.self),
                  first & 0xF0 == 0x80,  // FIN, no reserved bits
                  first & 0x0F == 0x1 || first & 0x0F == 0x2,
                  second & 0x80 == 0  // server frames are unmasked
            else { return nil }
            let headerSize: Int
            switch second & 0x7F {
            case 126: headerSize = 4
            case 127: headerSize = 10
            default: headerSize = 2
            }
            guard bytes.readableBytes >= headerSize,
                  var payload = bytes.getSlice(at: bytes.readerIndex + headerSize, length: bytes.readableBytes - headerSize)
            else { return nil }

            let maxHeader = OutboundFrame.maxHeaderSize
            var output: ByteBuffer
            if payload.readableBytes == 0 {
                // An empty message: a lone empty stored block with its last 4 bytes removed.
                output = allocator.buffer(capacity: maxHeader + 1)
                output.moveWriterIndex(forwardBy: maxHeader)
                output.moveReaderIndex(forwardBy: maxHeader)
                output.writeInteger(UInt8(0))
            } else {
                output = allocator.buffer(capacity: maxHeader + compressor.maxSize(from: payload))
                output.moveWriterIndex(forwardBy: maxHeader)
                output.moveReaderIndex(forwardBy: maxHeader)
                do {
                    try deflate(&payload, into: &output)
                } catch {
                    // Start a fresh history: the next message must not refer to bytes the
                    // client never received. (The frame goes out uncompressed.)
                    try? compressor.reset()
                    return nil
                }
                if noContextTakeover { try? compressor.reset() }
            }

            let length = output.readableBytes
            let size = OutboundFrame.headerSize(length)
            let start = output.readerIndex - size
            // FIN + RSV1 (compressed) + the original opcode.
            OutboundFrame.writeHeader(into: &output, at: start, firstByte: 0xC0 | (first & 0x0F), payloadLength: length)
            output.moveReaderIndex(to: start)
            return OutboundFrame(prebuilt: output)
        }

        /// Deflates with a sync flush and removes the `00 00 ff ff` it ends with (§7.2.1).
        private func deflate(_ payload: inout ByteBuffer, into output: inout ByteBuffer) throws {
            while true {
                if output.writableBytes == 0 { output.reserveCapacity(minimumWritableBytes: max(64, output.readableBytes / 2)) }
                do {
                    try compressor.deflate(from: &payload, to: &output, flush: .sync)
                } catch let error as CompressNIOError where error == .bufferOverflow && payload.readableBytes == 0 {
                    break  // nothing was pending: the flush had completed
                } catch let error as CompressNIOError where error == .bufferOverflow {
                    output.reserveCapacity(minimumWritableBytes: max(64, output.readableBytes / 2))
                    continue
                }
                // With room to spare the flush is complete; a full buffer may hold back more.
                if payload.readableBytes == 0, output.writableBytes > 0 { break }
            }
            let end = output.writerIndex
            guard output.readableBytes >= 4,
                  output.getInteger(at: end - 4, as: UInt32.self) == 0x0000_FFFF
            else { throw CompressNIOError.internalError }
            output.moveWriterIndex(to: end - 4)
        }
    }
}
