import NIOCore
import NIOWebSocket
import Testing
@testable import Switchboard

private let allocator = ByteBufferAllocator()

/// The frame's header, parsed by hand: (fin+opcode byte, mask bit, payload length, header size).
private func parseHeader(_ frame: OutboundFrame) throws -> (first: UInt8, masked: Bool, length: Int, headerSize: Int) {
    let bytes = Array(frame.bytes.readableBytesView)
    try #require(bytes.count >= 2)
    let first = bytes[0]
    let masked = bytes[1] & 0x80 != 0
    let short = Int(bytes[1] & 0x7F)
    switch short {
    case 126:
        try #require(bytes.count >= 4)
        return (first, masked, Int(bytes[2]) << 8 | Int(bytes[3]), 4)
    case 127:
        try #require(bytes.count >= 10)
        let length = bytes[2..<10].reduce(0) { $0 << 8 | Int($1) }
        return (first, masked, length, 10)
    default:
        return (first, masked, short, 2)
    }
}

private func payload(_ frame: OutboundFrame, headerSize: Int) -> [UInt8] {
    Array(frame.bytes.readableBytesView.dropFirst(headerSize))
}

@Suite("OutboundFrame")
struct OutboundFrameUnitTests {
    /// Payload length → the exact header bytes a server must send (no mask bit).
    static let lengths: [(length: Int, header: [UInt8])] = [
        (0, [0x00]),
        (1, [0x01]),
        (125, [0x7D]),
        (126, [0x7E, 0x00, 0x7E]),
        (127, [0x7E, 0x00, 0x7F]),
        (65535, [0x7E, 0xFF, 0xFF]),
        (65536, [0x7F, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00]),
        (70000, [0x7F, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0x11, 0x70]),
    ]

    @Test(arguments: lengths)
    func textFrameBuiltInPlaceHasTheExactHeader(length: Int, header: [UInt8]) throws {
        let body = (0..<length).map { UInt8(ascii: "a") + UInt8($0 % 26) }
        let frame = OutboundFrame.text(allocator: allocator, capacity: 16) { $0.writeBytes(body) }
        let bytes = Array(frame.bytes.readableBytesView)
        #expect(bytes.count == 1 + header.count + length)
        #expect(bytes.first == 0x81)  // FIN | text
        #expect(Array(bytes.dropFirst().prefix(header.count)) == header)
        #expect(Array(bytes.dropFirst(1 + header.count)) == body)
    }

    @Test(arguments: lengths)
    func binaryFrameAroundAPayloadHasTheExactHeader(length: Int, header: [UInt8]) throws {
        let body = (0..<length).map { UInt8(truncatingIfNeeded: $0 &* 31) }
        let frame = OutboundFrame.frame(opcode: .binary, payload: allocator.buffer(bytes: body), allocator: allocator)
        let bytes = Array(frame.bytes.readableBytesView)
        #expect(bytes.count == 1 + header.count + length)
        #expect(bytes.first == 0x82)  // FIN | binary
        #expect(Array(bytes.dropFirst().prefix(header.count)) == header)
        #expect(Array(bytes.dropFirst(1 + header.count)) == body)
    }

    @Test func headerSizeIsTheSmallestEncoding() {
        #expect(OutboundFrame.headerSize(0) == 2)
        #expect(OutboundFrame.headerSize(125) == 2)
        #expect(OutboundFrame.headerSize(126) == 4)
        #expect(OutboundFrame.headerSize(65535) == 4)
        #expect(OutboundFrame.headerSize(65536) == 10)
    }

    @Test func textFromAStringCarriesItsUTF8() throws {
        let text = "{\"type\":\"message\",\"payload\":{\"text\":\"héllo 👋\"}}"
        let frame = OutboundFrame.text(text, allocator: allocator)
        let header = try parseHeader(frame)
        #expect(header.first == 0x81)
        #expect(!header.masked)
        #expect(header.length == text.utf8.count)
        #expect(payload(frame, headerSize: header.headerSize) == Array(text.utf8))
    }

    @Test func textBodyLargerThanTheCapacityHintStillFrames() throws {
        let frame = OutboundFrame.text(allocator: allocator, capacity: 1) { $0.writeString(String(repeating: "z", count: 300)) }
        let header = try parseHeader(frame)
        #expect(header.length == 300)
        #expect(header.headerSize == 4)
        #expect(payload(frame, headerSize: 4) == Array(repeating: UInt8(ascii: "z"), count: 300))
    }

    @Test(arguments: [(WebSocketOpcode.ping, UInt8(0x89)), (.pong, 0x8A), (.connectionClose, 0x88), (.text, 0x81), (.binary, 0x82)])
    func firstByteIsFinPlusOpcode(opcode: WebSocketOpcode, first: UInt8) {
        let frame = OutboundFrame.frame(opcode: opcode, payload: allocator.buffer(string: "p"), allocator: allocator)
        #expect(Array(frame.bytes.readableBytesView) == [first, 0x01, UInt8(ascii: "p")])
    }

    @Test func closeFrameCarriesTheCodeBigEndianThenTheReason() {
        let frame = OutboundFrame.close(.slowConsumer, reason: "bye", allocator: allocator)
        // 4008 = 0x0FA8
        #expect(Array(frame.bytes.readableBytesView) == [0x88, 0x05, 0x0F, 0xA8, 0x62, 0x79, 0x65])
    }

    @Test func closeFrameWithoutReasonIsJustTheCode() {
        let frame = OutboundFrame.close(.normal, allocator: allocator)
        #expect(Array(frame.bytes.readableBytesView) == [0x88, 0x02, 0x03, 0xE8])
    }

    @Test func closeReasonOfExactly123BytesFits() throws {
        let reason = String(repeating: "r", count: 123)
        let frame = OutboundFrame.close(.goingAway, reason: reason, allocator: allocator)
        let header = try parseHeader(frame)
        #expect(header.first == 0x88)
        #expect(header.length == 125)
        #expect(payload(frame, headerSize: 2) == [0x03, 0xE9] + Array(reason.utf8))
    }

    @Test func longASCIICloseReasonIsTruncatedToFit125Bytes() throws {
        let reason = String(repeating: "0123456789", count: 30)
        let frame = OutboundFrame.close(.protocolError, reason: reason, allocator: allocator)
        let header = try parseHeader(frame)
        #expect(header.first == 0x88)
        #expect(!header.masked)
        #expect(header.length == 125)
        #expect(header.headerSize == 2)
        #expect(payload(frame, headerSize: 2) == [0x03, 0xEA] + Array(reason.utf8.prefix(123)))
    }
}
