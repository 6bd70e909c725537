import CompressNIO
import NIOCore

/// A permessage-deflate peer for tests, built directly on zlib (CompressNIO), independent of
/// the server's own `PerMessageDeflate` types: raw DEFLATE, sync flush, `00 00 ff ff` removed.
final class TestDeflate: @unchecked Sendable {
    private let compressor: ZlibCompressor
    private let decompressor: ZlibDecompressor
    private let contextTakeover: Bool

    init(windowBits: Int32 = 15, inflateWindowBits: Int32 = 15, contextTakeover: Bool = true) throws {
        compressor = try ZlibCompressor(algorithm: .deflate, configuration: ZlibConfiguration(windowSize: windowBits))
        decompressor = try ZlibDecompressor(algorithm: .deflate, windowSize: inflateWindowBits)
        self.contextTakeover = contextTakeover
    }

    /// One message's compressed payload (RFC 7692 §7.2.1).
    func compress(_ bytes: [UInt8]) throws -> [UInt8] {
        var input = ByteBuffer(bytes: bytes)
        var output = ByteBuffer()
        output.reserveCapacity(compressor.maxSize(from: input) + 16)
        try compressor.deflate(from: &input, to: &output, flush: .sync)
        precondition(input.readableBytes == 0)
        let compressed = Array(output.readableBytesView)
        precondition(compressed.suffix(4) == [0x00, 0x00, 0xFF, 0xFF])
        if !contextTakeover { try compressor.reset() }
        return Array(compressed.dropLast(4))
    }

    func compress(_ text: String) throws -> [UInt8] { try compress(Array(text.utf8)) }

    /// One message's payload, decompressed (RFC 7692 §7.2.2).
    func decompress(_ bytes: [UInt8]) throws -> [UInt8] {
        var input = ByteBuffer(bytes: bytes + [0x00, 0x00, 0xFF, 0xFF])
        var result: [UInt8] = []
        while true {
            var output = ByteBuffer()
            output.reserveCapacity(64 * 1024)
            do {
                try decompressor.inflate(from: &input, to: &output)
                result += output.readableBytesView
                break
            } catch let error as CompressNIOError where error == .bufferOverflow {
                result += output.readableBytesView
            } catch let error as CompressNIOError where error == .inputBufferOverflow {
                result += output.readableBytesView
                break
            }
        }
        if !contextTakeover { try decompressor.reset() }
        return result
    }
}
