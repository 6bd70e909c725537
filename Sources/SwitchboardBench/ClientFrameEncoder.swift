import NIOCore

/// Encodes client-to-server WebSocket frames, masked as RFC 6455 §5.3 requires of clients
/// (a server must close the connection on an unmasked client frame).
///
/// The masking key must be unpredictable to the application, so it comes from a per-connection
/// xorshift generator seeded from the system RNG, rather than a system call per frame.
struct ClientFrameEncoder {
    enum Opcode: UInt8 {
        case text = 0x1
        case close = 0x8
        case pong = 0xA
    }

    private var state: UInt64

    init() {
        state = UInt64.random(in: 1...UInt64.max)
    }

    private mutating func nextMask() -> UInt32 {
        state ^= state << 13
        state ^= state >> 7
        state ^= state << 17
        return UInt32(truncatingIfNeeded: state >> 16)
    }

    /// Writes one final frame carrying `payload`, masked, into a new buffer.
    mutating func frame(_ opcode: Opcode, payload: UnsafeRawBufferPointer, allocator: ByteBufferAllocator) -> ByteBuffer {
        var buffer = allocator.buffer(capacity: payload.count + 14)
        buffer.writeInteger(0x80 | opcode.rawValue)
        if payload.count <= 125 {
            buffer.writeInteger(0x80 | UInt8(payload.count))
        } else if payload.count <= 0xFFFF {
            buffer.writeInteger(UInt8(0x80 | 126))
            buffer.writeInteger(UInt16(payload.count))
        } else {
            buffer.writeInteger(UInt8(0x80 | 127))
            buffer.writeInteger(UInt64(payload.count))
        }
        let mask = nextMask()
        buffer.writeInteger(mask)
        let maskBytes = (UInt8(mask >> 24), UInt8((mask >> 16) & 0xFF), UInt8((mask >> 8) & 0xFF), UInt8(mask & 0xFF))
        buffer.writeWithUnsafeMutableBytes(minimumWritableBytes: payload.count) { out in
            for index in 0..<payload.count {
                let key: UInt8
                switch index & 3 {
                case 0: key = maskBytes.0
                case 1: key = maskBytes.1
                case 2: key = maskBytes.2
                default: key = maskBytes.3
                }
                out[index] = payload[index] ^ key
            }
            return payload.count
        }
        return buffer
    }

    mutating func frame(_ opcode: Opcode, payload: [UInt8], allocator: ByteBufferAllocator) -> ByteBuffer {
        payload.withUnsafeBytes { frame(opcode, payload: $0, allocator: allocator) }
    }
}
