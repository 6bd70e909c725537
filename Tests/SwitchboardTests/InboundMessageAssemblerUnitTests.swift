import NIOCore
import NIOWebSocket
import Testing
@testable import Switchboard

/// A client frame as it arrives from NIO's decoder: masked, so the assembler has to unmask it.
private func clientFrame(
    _ opcode: WebSocketOpcode,
    _ bytes: [UInt8],
    fin: Bool = true,
    masked: Bool = true,
    rsv1: Bool = false,
    rsv2: Bool = false,
    rsv3: Bool = false
) -> WebSocketFrame {
    var data = ByteBufferAllocator().buffer(bytes: bytes)
    let key: WebSocketMaskingKey? = masked ? [0x37, 0xFA, 0x21, 0x3D] : nil
    if let key { data.webSocketMask(key) }
    return WebSocketFrame(fin: fin, rsv1: rsv1, rsv2: rsv2, rsv3: rsv3, opcode: opcode, maskKey: key, data: data)
}

private func clientFrame(_ opcode: WebSocketOpcode, _ text: String, fin: Bool = true) -> WebSocketFrame {
    clientFrame(opcode, Array(text.utf8), fin: fin)
}

private func buffer(_ bytes: [UInt8]) -> ByteBuffer { ByteBufferAllocator().buffer(bytes: bytes) }
private func buffer(_ text: String) -> ByteBuffer { ByteBufferAllocator().buffer(string: text) }

private func closePayload(_ code: UInt16, _ reason: [UInt8] = []) -> [UInt8] {
    [UInt8(code >> 8), UInt8(code & 0xFF)] + reason
}

/// The close code of a violation, or nil for any other output.
private func violationCode(_ output: InboundMessageAssembler.Output) -> CloseCode? {
    if case .violation(let code, _) = output { return code }
    return nil
}

@Suite("InboundMessageAssembler")
struct InboundMessageAssemblerUnitTests {
    // MARK: frame header rules

    @Test func unmaskedClientFrameIsAProtocolError() {
        var assembler = InboundMessageAssembler(maxMessageSize: 1024)
        let output = assembler.receive(clientFrame(.text, Array("hi".utf8), masked: false))
        #expect(violationCode(output) == .protocolError)
    }

    @Test(arguments: [(true, false, false), (false, true, false), (false, false, true)])
    func reservedBitIsAProtocolError(rsv: (Bool, Bool, Bool)) {
        var assembler = InboundMessageAssembler(maxMessageSize: 1024)
        let frame = clientFrame(.text, Array("hi".utf8), rsv1: rsv.0, rsv2: rsv.1, rsv3: rsv.2)
        #expect(violationCode(assembler.receive(frame)) == .protocolError)
    }

    @Test(arguments: [3, 4, 5, 6, 7, 0xB, 0xC, 0xF] as [UInt8])
    func unknownOpcodeIsAProtocolError(raw: UInt8) throws {
        let opcode = try #require(WebSocketOpcode(encodedWebSocketOpcode: raw))
        var assembler = InboundMessageAssembler(maxMessageSize: 1024)
        #expect(violationCode(assembler.receive(clientFrame(opcode, [0x61]))) == .protocolError)
    }

    // MARK: data messages

    @Test func singleTextFrameIsUnmaskedIntoAMessage() {
        var assembler = InboundMessageAssembler(maxMessageSize: 1024)
        let output = assembler.receive(clientFrame(.text, "{\"type\":\"ping\"} héllo"))
        #expect(output == .message(.text, buffer("{\"type\":\"ping\"} héllo")))
    }

    @Test func emptyTextFrameIsAnEmptyMessage() {
        var assembler = InboundMessageAssembler(maxMessageSize: 1024)
        #expect(assembler.receive(clientFrame(.text, "")) == .message(.text, buffer([])))
    }

    @Test func textFragmentedOverThreeFramesIsReassembled() {
        var assembler = InboundMessageAssembler(maxMessageSize: 1024)
        #expect(assembler.receive(clientFrame(.text, "Hello, ", fin: false)) == .none)
        #expect(assembler.receive(clientFrame(.continuation, "fragmented ", fin: false)) == .none)
        #expect(assembler.receive(clientFrame(.continuation, "world", fin: true)) == .message(.text, buffer("Hello, fragmented world")))
        // The assembler is ready for the next message.
        #expect(assembler.receive(clientFrame(.text, "next")) == .message(.text, buffer("next")))
    }

    @Test func binaryFragmentedIsReassembledAsBinary() {
        var assembler = InboundMessageAssembler(maxMessageSize: 1024)
        #expect(assembler.receive(clientFrame(.binary, [0x00, 0xFF], fin: false)) == .none)
        #expect(assembler.receive(clientFrame(.continuation, [0xC0, 0x80], fin: true)) == .message(.binary, buffer([0x00, 0xFF, 0xC0, 0x80])))
    }

    @Test func binaryIsNotUTF8Checked() {
        var assembler = InboundMessageAssembler(maxMessageSize: 1024)
        let bytes: [UInt8] = [0xFF, 0xFE, 0xC0, 0x80, 0xED, 0xA0, 0x80, 0xE2, 0x82]
        #expect(assembler.receive(clientFrame(.binary, bytes)) == .message(.binary, buffer(bytes)))
    }

    @Test func continuationWithoutAStartIsAProtocolError() {
        var assembler = InboundMessageAssembler(maxMessageSize: 1024)
        #expect(violationCode(assembler.receive(clientFrame(.continuation, "orphan", fin: true))) == .protocolError)
        var other = InboundMessageAssembler(maxMessageSize: 1024)
        #expect(violationCode(other.receive(clientFrame(.continuation, "orphan", fin: false))) == .protocolError)
    }

    @Test func continuationAfterAFinishedMessageIsAProtocolError() {
        var assembler = InboundMessageAssembler(maxMessageSize: 1024)
        #expect(assembler.receive(clientFrame(.text, "done")) == .message(.text, buffer("done")))
        #expect(violationCode(assembler.receive(clientFrame(.continuation, "more"))) == .protocolError)
    }

    @Test(arguments: [WebSocketOpcode.text, .binary])
    func newDataFrameInsideAFragmentedMessageIsAProtocolError(opcode: WebSocketOpcode) {
        var assembler = InboundMessageAssembler(maxMessageSize: 1024)
        #expect(assembler.receive(clientFrame(.text, "start", fin: false)) == .none)
        #expect(violationCode(assembler.receive(clientFrame(opcode, "intruder"))) == .protocolError)
    }

    @Test func controlFramesMayArriveInTheMiddleOfAFragmentedMessage() {
        var assembler = InboundMessageAssembler(maxMessageSize: 1024)
        #expect(assembler.receive(clientFrame(.text, "one ", fin: false)) == .none)
        #expect(assembler.receive(clientFrame(.ping, "are you there")) == .ping(buffer("are you there")))
        #expect(assembler.receive(clientFrame(.continuation, "two ", fin: false)) == .none)
        #expect(assembler.receive(clientFrame(.pong, "")) == .pong)
        #expect(assembler.receive(clientFrame(.continuation, "three", fin: true)) == .message(.text, buffer("one two three")))
    }

    // MARK: control frames

    @Test func pingPayloadIsUnmaskedAndReturned() {
        var assembler = InboundMessageAssembler(maxMessageSize: 1024)
        #expect(assembler.receive(clientFrame(.ping, [1, 2, 3, 4, 5])) == .ping(buffer([1, 2, 3, 4, 5])))
        #expect(assembler.receive(clientFrame(.ping, [])) == .ping(buffer([])))
    }

    @Test func pongIsReported() {
        var assembler = InboundMessageAssembler(maxMessageSize: 1024)
        #expect(assembler.receive(clientFrame(.pong, [9, 9])) == .pong)
    }

    @Test(arguments: [WebSocketOpcode.ping, .pong, .connectionClose])
    func fragmentedControlFrameIsAProtocolError(opcode: WebSocketOpcode) {
        var assembler = InboundMessageAssembler(maxMessageSize: 1024)
        #expect(violationCode(assembler.receive(clientFrame(opcode, closePayload(1000), fin: false))) == .protocolError)
    }

    @Test(arguments: [WebSocketOpcode.ping, .pong, .connectionClose])
    func controlFrameOf125BytesIsAcceptedAnd126IsAProtocolError(opcode: WebSocketOpcode) {
        let at125 = closePayload(1000, Array(repeating: UInt8(ascii: "a"), count: 123))
        let at126 = closePayload(1000, Array(repeating: UInt8(ascii: "a"), count: 124))
        var assembler = InboundMessageAssembler(maxMessageSize: 1024)
        #expect(violationCode(assembler.receive(clientFrame(opcode, at125))) == nil)
        var other = InboundMessageAssembler(maxMessageSize: 1024)
        #expect(violationCode(other.receive(clientFrame(opcode, at126))) == .protocolError)
    }

    @Test func closeWithoutPayloadHasNoCode() {
        var assembler = InboundMessageAssembler(maxMessageSize: 1024)
        #expect(assembler.receive(clientFrame(.connectionClose, [])) == .close(nil))
    }

    @Test func closeWithAOneBytePayloadIsAProtocolError() {
        var assembler = InboundMessageAssembler(maxMessageSize: 1024)
        #expect(violationCode(assembler.receive(clientFrame(.connectionClose, [0x03]))) == .protocolError)
    }

    @Test(arguments: [1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 3000, 3999, 4000, 4999] as [UInt16])
    func closeWithAValidCodeIsReported(code: UInt16) {
        var assembler = InboundMessageAssembler(maxMessageSize: 1024)
        #expect(assembler.receive(clientFrame(.connectionClose, closePayload(code))) == .close(CloseCode(rawValue: code)))
        var withReason = InboundMessageAssembler(maxMessageSize: 1024)
        let reason = Array("bye — à bientôt 👋".utf8)
        #expect(withReason.receive(clientFrame(.connectionClose, closePayload(code, reason))) == .close(CloseCode(rawValue: code)))
    }

    @Test(arguments: [0, 999, 1004, 1005, 1006, 1012, 1013, 1014, 1015, 1016, 1100, 2000, 2999, 5000, 65535] as [UInt16])
    func closeWithAnInvalidCodeIsAProtocolError(code: UInt16) {
        var assembler = InboundMessageAssembler(maxMessageSize: 1024)
        #expect(violationCode(assembler.receive(clientFrame(.connectionClose, closePayload(code)))) == .protocolError)
    }

    @Test(arguments: [[0xFF], [0xC0, 0x80], [0xED, 0xA0, 0x80], [0x61, 0xE2, 0x82]] as [[UInt8]])
    func closeReasonThatIsNotUTF8IsInvalidPayload(reason: [UInt8]) {
        var assembler = InboundMessageAssembler(maxMessageSize: 1024)
        #expect(violationCode(assembler.receive(clientFrame(.connectionClose, closePayload(1000, reason)))) == .invalidPayload)
    }

    // MARK: UTF-8

    @Test(arguments: [[0xFF], [0x61, 0x80], [0xC0, 0xAF], [0xED, 0xA0, 0x80], [0xF4, 0x90, 0x80, 0x80]] as [[UInt8]])
    func invalidUTF8TextIsInvalidPayload(bytes: [UInt8]) {
        var assembler = InboundMessageAssembler(maxMessageSize: 1024)
        #expect(violationCode(assembler.receive(clientFrame(.text, bytes))) == .invalidPayload)
    }

    @Test func invalidUTF8InTheSecondFragmentIsInvalidPayloadRightAway() {
        var assembler = InboundMessageAssembler(maxMessageSize: 1024)
        #expect(assembler.receive(clientFrame(.text, "valid start ", fin: false)) == .none)
        // Not final: the violation is reported at the bad byte, not at the end of the message.
        #expect(violationCode(assembler.receive(clientFrame(.continuation, [0x61, 0xFE, 0x62], fin: false))) == .invalidPayload)
    }

    @Test func invalidContinuationOfACharacterSplitAcrossFragmentsIsInvalidPayload() {
        var assembler = InboundMessageAssembler(maxMessageSize: 1024)
        // "é" starts with 0xC3; the next fragment continues with an ASCII byte instead.
        #expect(assembler.receive(clientFrame(.text, [0x61, 0xC3], fin: false)) == .none)
        #expect(violationCode(assembler.receive(clientFrame(.continuation, [0x41], fin: true))) == .invalidPayload)
    }

    @Test func multiByteCharacterSplitAcrossFragmentsIsAccepted() {
        var assembler = InboundMessageAssembler(maxMessageSize: 1024)
        let emoji = Array("😀".utf8)  // F0 9F 98 80
        #expect(assembler.receive(clientFrame(.text, [0x61, emoji[0]], fin: false)) == .none)
        #expect(assembler.receive(clientFrame(.continuation, [emoji[1], emoji[2]], fin: false)) == .none)
        #expect(assembler.receive(clientFrame(.continuation, [emoji[3], 0x62], fin: true)) == .message(.text, buffer("a😀b")))
    }

    @Test func textTruncatedMidCharacterAtFinIsInvalidPayload() {
        var single = InboundMessageAssembler(maxMessageSize: 1024)
        #expect(violationCode(single.receive(clientFrame(.text, [0x61, 0xE2, 0x82]))) == .invalidPayload)

        var fragmented = InboundMessageAssembler(maxMessageSize: 1024)
        #expect(fragmented.receive(clientFrame(.text, [0x61], fin: false)) == .none)
        #expect(violationCode(fragmented.receive(clientFrame(.continuation, [0xF0, 0x9F], fin: true))) == .invalidPayload)
    }

    // MARK: size limit

    @Test func singleFrameOfExactlyTheLimitIsAcceptedAndOneMoreIsTooBig() {
        let limit = 64
        var assembler = InboundMessageAssembler(maxMessageSize: limit)
        let exact = String(repeating: "x", count: limit)
        #expect(assembler.receive(clientFrame(.text, exact)) == .message(.text, buffer(exact)))
        #expect(violationCode(assembler.receive(clientFrame(.text, exact + "x"))) == .messageTooBig)

        var binary = InboundMessageAssembler(maxMessageSize: limit)
        #expect(violationCode(binary.receive(clientFrame(.binary, Array(repeating: 0, count: limit + 1)))) == .messageTooBig)
    }

    @Test func fragmentedMessageOfExactlyTheLimitIsAcceptedAndOneMoreIsTooBig() {
        let limit = 64
        var assembler = InboundMessageAssembler(maxMessageSize: limit)
        #expect(assembler.receive(clientFrame(.text, String(repeating: "a", count: 30), fin: false)) == .none)
        #expect(assembler.receive(clientFrame(.continuation, String(repeating: "b", count: 30), fin: false)) == .none)
        #expect(assembler.receive(clientFrame(.continuation, "cccc", fin: true))
            == .message(.text, buffer(String(repeating: "a", count: 30) + String(repeating: "b", count: 30) + "cccc")))

        var over = InboundMessageAssembler(maxMessageSize: limit)
        #expect(over.receive(clientFrame(.text, String(repeating: "a", count: 30), fin: false)) == .none)
        #expect(over.receive(clientFrame(.continuation, String(repeating: "b", count: 30), fin: false)) == .none)
        #expect(violationCode(over.receive(clientFrame(.continuation, "ccccc", fin: true))) == .messageTooBig)
    }

    @Test func firstFragmentLargerThanTheLimitIsTooBig() {
        var assembler = InboundMessageAssembler(maxMessageSize: 8)
        #expect(violationCode(assembler.receive(clientFrame(.binary, Array(repeating: 1, count: 9), fin: false))) == .messageTooBig)
    }

    @Test func nonFinalFragmentThatOverflowsIsTooBigBeforeTheMessageEnds() {
        var assembler = InboundMessageAssembler(maxMessageSize: 8)
        #expect(assembler.receive(clientFrame(.binary, Array(repeating: 1, count: 5), fin: false)) == .none)
        #expect(violationCode(assembler.receive(clientFrame(.continuation, Array(repeating: 2, count: 4), fin: false))) == .messageTooBig)
    }
}
