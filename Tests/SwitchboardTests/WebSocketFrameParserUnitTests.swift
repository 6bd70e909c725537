import NIOCore
import NIOWebSocket
import Testing
@testable import Switchboard

/// The bytes of one client frame as they come off the wire (RFC 6455 §5.2).
private func wireFrame(
    firstByte: UInt8, payload: [UInt8], mask: [UInt8]? = [0x11, 0x22, 0x33, 0x44], declaredLength: UInt64? = nil
) -> [UInt8] {
    var bytes = [firstByte]
    let maskBit: UInt8 = mask == nil ? 0 : 0x80
    let length = declaredLength ?? UInt64(payload.count)
    if length <= 125 {
        bytes.append(maskBit | UInt8(length))
    } else if length <= UInt64(UInt16.max) {
        bytes.append(maskBit | 126)
        bytes += [UInt8(length >> 8), UInt8(length & 0xFF)]
    } else {
        bytes.append(maskBit | 127)
        bytes += (0..<8).reversed().map { UInt8((length >> (8 * UInt64($0))) & 0xFF) }
    }
    if let mask {
        bytes += mask
        bytes += payload.enumerated().map { $0.element ^ mask[$0.offset % 4] }
    } else {
        bytes += payload
    }
    return bytes
}

private func frames(_ parser: inout WebSocketFrameParser) throws -> [WebSocketFrame] {
    var out: [WebSocketFrame] = []
    while let frame = try parser.next() { out.append(frame) }
    return out
}

private func payload(_ frame: WebSocketFrame) -> [UInt8] { Array(frame.unmaskedData.readableBytesView) }

@Suite("WebSocketFrameParser")
struct WebSocketFrameParserUnitTests {
    @Test("7-bit, 16-bit and 64-bit lengths give the frame's bits, opcode and unmasked payload", arguments: [0, 5, 125, 126, 300, 65535, 65536, 70000])
    func lengths(size: Int) throws {
        let body = (0..<size).map { UInt8($0 % 251) }
        var parser = WebSocketFrameParser(maxFrameSize: 1 << 20)
        parser.append(ByteBuffer(bytes: wireFrame(firstByte: 0x82, payload: body)))
        let parsed = try frames(&parser)
        #expect(parsed.count == 1)
        #expect(parsed[0].fin)
        #expect(!parsed[0].rsv1 && !parsed[0].rsv2 && !parsed[0].rsv3)
        #expect(parsed[0].opcode == .binary)
        #expect(parsed[0].maskKey != nil)
        #expect(payload(parsed[0]) == body)
        #expect(!parser.hasPartialFrame)
    }

    @Test("frames split at every byte, and several frames in one read, come out whole and in order")
    func splitAndCoalesced() throws {
        let wire = wireFrame(firstByte: 0x01, payload: Array("hel".utf8))
            + wireFrame(firstByte: 0x80, payload: Array("lo".utf8))
            + wireFrame(firstByte: 0x89, payload: [1, 2, 3])
            + wireFrame(firstByte: 0xC1, payload: Array(repeating: 7, count: 200))
        // All at once.
        var whole = WebSocketFrameParser(maxFrameSize: 1024)
        whole.append(ByteBuffer(bytes: wire))
        let expected = try frames(&whole)
        #expect(expected.map(\.opcode) == [.text, .continuation, .ping, .text])
        #expect(expected.map(\.fin) == [false, true, true, true])
        #expect(expected[3].rsv1)
        #expect(payload(expected[0]) == Array("hel".utf8))
        // One byte at a time: nothing comes out early, the same frames come out in the end.
        var trickled = WebSocketFrameParser(maxFrameSize: 1024)
        var got: [WebSocketFrame] = []
        for byte in wire {
            trickled.append(ByteBuffer(bytes: [byte]))
            got += try frames(&trickled)
        }
        #expect(got.map(\.opcode) == expected.map(\.opcode))
        #expect(got.map { payload($0) } == expected.map { payload($0) })
        #expect(!trickled.hasPartialFrame)
    }

    @Test("a partial frame is kept until the rest arrives")
    func partialFrameIsKept() throws {
        let wire = wireFrame(firstByte: 0x81, payload: Array("hello".utf8))
        var parser = WebSocketFrameParser(maxFrameSize: 1024)
        parser.append(ByteBuffer(bytes: Array(wire.prefix(8))))
        #expect(try parser.next() == nil)
        #expect(parser.hasPartialFrame)
        parser.append(ByteBuffer(bytes: Array(wire.dropFirst(8))))
        let frame = try #require(try parser.next())
        #expect(payload(frame) == Array("hello".utf8))
        #expect(!parser.hasPartialFrame)
    }

    @Test("an unmasked frame is parsed with no key (the assembler refuses it)")
    func unmasked() throws {
        var parser = WebSocketFrameParser(maxFrameSize: 1024)
        parser.append(ByteBuffer(bytes: wireFrame(firstByte: 0x81, payload: [0x61], mask: nil)))
        let frame = try #require(try parser.next())
        #expect(frame.maskKey == nil)
        #expect(Array(frame.data.readableBytesView) == [0x61])
    }

    @Test("a frame over the limit is refused from its header, before its payload is buffered")
    func tooLarge() throws {
        var parser = WebSocketFrameParser(maxFrameSize: 1000)
        let header = Array(wireFrame(firstByte: 0x82, payload: [], declaredLength: 1001).prefix(8))
        parser.append(ByteBuffer(bytes: header))
        #expect(throws: NIOWebSocketError.invalidFrameLength) { try parser.next() }
        var exact = WebSocketFrameParser(maxFrameSize: 1000)
        exact.append(ByteBuffer(bytes: wireFrame(firstByte: 0x82, payload: Array(repeating: 1, count: 1000))))
        #expect(try exact.next() != nil)
    }

    @Test("a 64-bit length beyond any buffer is refused, not trapped on")
    func hugeLength() throws {
        var parser = WebSocketFrameParser(maxFrameSize: 1 << 20)
        parser.append(ByteBuffer(bytes: Array(wireFrame(firstByte: 0x82, payload: [], declaredLength: UInt64.max).prefix(10))))
        #expect(throws: NIOWebSocketError.invalidFrameLength) { try parser.next() }
    }

    @Test("a fragmented control frame and a control frame over 125 bytes are refused")
    func badControlFrames() throws {
        var fragmented = WebSocketFrameParser(maxFrameSize: 1024)
        fragmented.append(ByteBuffer(bytes: wireFrame(firstByte: 0x09, payload: [1])))
        #expect(throws: NIOWebSocketError.fragmentedControlFrame) { try fragmented.next() }
        var long = WebSocketFrameParser(maxFrameSize: 1024)
        long.append(ByteBuffer(bytes: wireFrame(firstByte: 0x88, payload: Array(repeating: 0, count: 126))))
        #expect(throws: NIOWebSocketError.multiByteControlFrameLength) { try long.next() }
    }
}
