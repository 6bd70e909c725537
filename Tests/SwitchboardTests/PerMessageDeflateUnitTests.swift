import NIOCore
import NIOWebSocket
import Testing
@testable import Switchboard

private typealias PMD = PerMessageDeflate

private func negotiate(_ offers: String..., configuration: PMD.Configuration = .init()) -> PMD.Parameters? {
    PMD.negotiate(offers: offers, configuration: configuration)
}

@Suite("permessage-deflate negotiation (RFC 7692 §7.1)")
struct PerMessageDeflateNegotiationUnitTests {
    @Test func plainOfferIsAcceptedWithNoParameters() {
        let agreed = negotiate("permessage-deflate")
        #expect(agreed == PMD.Parameters())
        #expect(agreed?.headerValue == "permessage-deflate")
    }

    @Test func noOfferOrOtherExtensionsAreDeclined() {
        #expect(PMD.negotiate(offers: [], configuration: .init()) == nil)
        #expect(negotiate("x-webkit-deflate-frame") == nil)
        #expect(negotiate("") == nil)
        #expect(negotiate(" , ") == nil)
    }

    @Test func contextTakeoverParametersAreEchoed() {
        let agreed = negotiate("permessage-deflate; server_no_context_takeover; client_no_context_takeover")
        #expect(agreed == PMD.Parameters(serverNoContextTakeover: true, clientNoContextTakeover: true))
        #expect(agreed?.headerValue == "permessage-deflate; server_no_context_takeover; client_no_context_takeover")
    }

    @Test func serverMaxWindowBitsIsAnsweredWithTheOfferedValue() {
        #expect(negotiate("permessage-deflate; server_max_window_bits=10")?.serverMaxWindowBits == 10)
        #expect(negotiate("permessage-deflate; server_max_window_bits=8")?.serverMaxWindowBits == 8)
        #expect(negotiate("permessage-deflate; server_max_window_bits=15")?.headerValue
            == "permessage-deflate; server_max_window_bits=15")
    }

    @Test func serverMaxWindowBitsNeverExceedsTheOfferOrTheConfiguration() {
        let small = PMD.Configuration(serverMaxWindowBits: 11)
        #expect(negotiate("permessage-deflate; server_max_window_bits=13", configuration: small)?.serverMaxWindowBits == 11)
        #expect(negotiate("permessage-deflate; server_max_window_bits=9", configuration: small)?.serverMaxWindowBits == 9)
        // Not offered: the server may still announce its smaller window.
        #expect(negotiate("permessage-deflate", configuration: small)?.serverMaxWindowBits == 11)
    }

    @Test func clientMaxWindowBitsIsOnlyAnsweredWhenOffered() {
        // Offered without a value: nothing to say unless the server wants a smaller window.
        #expect(negotiate("permessage-deflate; client_max_window_bits") == PMD.Parameters())
        #expect(negotiate("permessage-deflate; client_max_window_bits", configuration: .init(clientMaxWindowBits: 10))?
            .clientMaxWindowBits == 10)
        #expect(negotiate("permessage-deflate; client_max_window_bits=12")?.clientMaxWindowBits == 12)
        #expect(negotiate("permessage-deflate; client_max_window_bits=12", configuration: .init(clientMaxWindowBits: 9))?
            .clientMaxWindowBits == 9)
        // Not offered: the server must not limit the client (§7.1.2.2).
        #expect(negotiate("permessage-deflate", configuration: .init(clientMaxWindowBits: 9))?.clientMaxWindowBits == nil)
    }

    @Test func configurationCanDemandNoContextTakeover() {
        let configuration = PMD.Configuration(serverNoContextTakeover: true, clientNoContextTakeover: true)
        #expect(negotiate("permessage-deflate", configuration: configuration)
            == PMD.Parameters(serverNoContextTakeover: true, clientNoContextTakeover: true))
    }

    @Test(arguments: [
        "permessage-deflate; unknown_parameter",
        "permessage-deflate; server_no_context_takeover; server_no_context_takeover",
        "permessage-deflate; client_max_window_bits; client_max_window_bits=10",
        "permessage-deflate; server_no_context_takeover=1",
        "permessage-deflate; client_no_context_takeover=true",
        "permessage-deflate; server_max_window_bits",
        "permessage-deflate; server_max_window_bits=7",
        "permessage-deflate; server_max_window_bits=16",
        "permessage-deflate; server_max_window_bits=010",
        "permessage-deflate; server_max_window_bits=1a",
        "permessage-deflate; server_max_window_bits=",
        "permessage-deflate; client_max_window_bits=0",
        "permessage-deflate; client_max_window_bits=-9",
        "permessage-deflate; client_max_window_bits=\"\"",
        "permessage-deflate; =10",
        "permessage-deflate;; server_no_context_takeover",
        "permessage-deflate; server_max_window_bits=\"10",
        "perm essage-deflate",
    ])
    func invalidOffersAreDeclined(offer: String) {
        #expect(negotiate(offer) == nil)
    }

    @Test func theFirstAcceptableOfferWins() {
        // Autobahn 13.7: several offers, most preferred first.
        let agreed = negotiate(
            "permessage-deflate; client_no_context_takeover; server_max_window_bits=9, permessage-deflate; client_no_context_takeover, permessage-deflate"
        )
        #expect(agreed == PMD.Parameters(clientNoContextTakeover: true, serverMaxWindowBits: 9))
    }

    @Test func invalidOffersAreSkippedForLaterOnes() {
        #expect(negotiate("permessage-deflate; bogus, permessage-deflate; server_no_context_takeover")
            == PMD.Parameters(serverNoContextTakeover: true))
        #expect(negotiate("x-foo; bar=1, permessage-deflate; server_max_window_bits=20, permessage-deflate")
            == PMD.Parameters())
        // Several header lines are one list.
        #expect(PMD.negotiate(offers: ["x-foo", "permessage-deflate; client_no_context_takeover"], configuration: .init())
            == PMD.Parameters(clientNoContextTakeover: true))
    }

    @Test func quotedValuesAndLooseWhitespaceAreAccepted() {
        #expect(negotiate("permessage-deflate ;server_max_window_bits=\"10\"")?.serverMaxWindowBits == 10)
        #expect(negotiate("  permessage-deflate\t;  client_max_window_bits = 11 ")?.clientMaxWindowBits == 11)
        #expect(negotiate("PerMessage-Deflate; Server_No_Context_Takeover") == PMD.Parameters(serverNoContextTakeover: true))
        // A comma inside a quoted string does not split the list.
        #expect(negotiate("x-foo; a=\"1,2\", permessage-deflate") == PMD.Parameters())
    }

    @Test func headerValueListsEveryAgreedParameter() {
        let parameters = PMD.Parameters(
            serverNoContextTakeover: true, clientNoContextTakeover: true, serverMaxWindowBits: 9, clientMaxWindowBits: 10
        )
        #expect(parameters.headerValue
            == "permessage-deflate; server_no_context_takeover; client_no_context_takeover; server_max_window_bits=9; client_max_window_bits=10")
        // The answer parses back as an offer with the same meaning.
        #expect(negotiate(parameters.headerValue) == parameters)
    }
}

// MARK: - compressed messages through the assembler and the deflater

private func clientFrame(_ opcode: WebSocketOpcode, _ bytes: [UInt8], fin: Bool = true, rsv1: Bool = false) -> WebSocketFrame {
    var data = ByteBufferAllocator().buffer(bytes: bytes)
    let key: WebSocketMaskingKey = [0x11, 0x22, 0x33, 0x44]
    data.webSocketMask(key)
    return WebSocketFrame(fin: fin, rsv1: rsv1, opcode: opcode, maskKey: key, data: data)
}

private func compressedAssembler(maxMessageSize: Int = 1024, noContextTakeover: Bool = false) throws -> InboundMessageAssembler {
    InboundMessageAssembler(
        maxMessageSize: maxMessageSize, inflater: try PMD.Inflater(noContextTakeover: noContextTakeover)
    )
}

private func violationCode(_ output: InboundMessageAssembler.Output) -> CloseCode? {
    if case .violation(let code, _) = output { return code }
    return nil
}

/// Payload, and whether RSV1 is set, of a server frame built by `OutboundFrame`/`Deflater`.
private func parseServerFrame(_ frame: OutboundFrame) -> (opcode: UInt8, rsv1: Bool, payload: [UInt8]) {
    var bytes = frame.bytes
    let first = bytes.readInteger(as: UInt8.self)!
    var length = Int(bytes.readInteger(as: UInt8.self)! & 0x7F)
    if length == 126 { length = Int(bytes.readInteger(as: UInt16.self)!) }
    else if length == 127 { length = Int(bytes.readInteger(as: UInt64.self)!) }
    #expect(bytes.readableBytes == length)
    return (first & 0x0F, first & 0x40 != 0, Array(bytes.readableBytesView))
}

@Suite("permessage-deflate messages")
struct PerMessageDeflateMessageUnitTests {
    @Test func compressedTextIsInflatedIntoAMessage() throws {
        let peer = try TestDeflate()
        var assembler = try compressedAssembler()
        let output = assembler.receive(clientFrame(.text, try peer.compress("Hello, héllo, hello!"), rsv1: true))
        #expect(output == .message(.text, ByteBuffer(string: "Hello, héllo, hello!")))
    }

    @Test func contextIsKeptAcrossMessagesUnlessTheClientTakesNone() throws {
        let text = String(repeating: "context takeover ", count: 20)
        let peer = try TestDeflate()
        var assembler = try compressedAssembler()
        let first = try peer.compress(text)
        let second = try peer.compress(text)
        #expect(second.count < first.count)  // refers back to the first message
        #expect(assembler.receive(clientFrame(.text, first, rsv1: true)) == .message(.text, ByteBuffer(string: text)))
        #expect(assembler.receive(clientFrame(.text, second, rsv1: true)) == .message(.text, ByteBuffer(string: text)))
        // A server that resets its inflater after each message cannot read the second one.
        var resetting = try compressedAssembler(noContextTakeover: true)
        #expect(resetting.receive(clientFrame(.text, first, rsv1: true)) == .message(.text, ByteBuffer(string: text)))
        #expect(resetting.receive(clientFrame(.text, second, rsv1: true)) != .message(.text, ByteBuffer(string: text)))
    }

    @Test func compressedMessageMayBeFragmentedAnywhere() throws {
        let text = "fragments of a compressed message, " + String(repeating: "ab", count: 100)
        let compressed = try TestDeflate().compress(text)
        var assembler = try compressedAssembler()
        #expect(assembler.receive(clientFrame(.text, Array(compressed[..<3]), fin: false, rsv1: true)) == .none)
        #expect(assembler.receive(clientFrame(.ping, [1])) == .ping(ByteBuffer(bytes: [1])))
        #expect(assembler.receive(clientFrame(.continuation, [], fin: false)) == .none)
        #expect(assembler.receive(clientFrame(.continuation, Array(compressed[3...]), fin: true))
            == .message(.text, ByteBuffer(string: text)))
    }

    @Test func uncompressedMessagesStillWorkWhenNegotiated() throws {
        var assembler = try compressedAssembler()
        #expect(assembler.receive(clientFrame(.binary, [1, 2, 3])) == .message(.binary, ByteBuffer(bytes: [1, 2, 3])))
    }

    @Test func emptyCompressedMessage() throws {
        var assembler = try compressedAssembler()
        #expect(assembler.receive(clientFrame(.binary, [0x00], rsv1: true)) == .message(.binary, ByteBuffer()))
        #expect(assembler.receive(clientFrame(.text, try TestDeflate().compress(""), rsv1: true)) == .message(.text, ByteBuffer()))
    }

    @Test func rsv1OnContinuationOrControlFramesIsAProtocolError() throws {
        var assembler = try compressedAssembler()
        #expect(assembler.receive(clientFrame(.text, try TestDeflate().compress("a"), fin: false, rsv1: true)) == .none)
        #expect(violationCode(assembler.receive(clientFrame(.continuation, [], fin: true, rsv1: true))) == .protocolError)
        var other = try compressedAssembler()
        #expect(violationCode(other.receive(clientFrame(.ping, [], rsv1: true))) == .protocolError)
    }

    @Test func rsv1WithoutNegotiationIsAProtocolError() throws {
        var assembler = InboundMessageAssembler(maxMessageSize: 1024)
        #expect(violationCode(assembler.receive(clientFrame(.text, try TestDeflate().compress("a"), rsv1: true))) == .protocolError)
    }

    @Test func zipBombOverTheLimitIs1009() throws {
        let bomb = try TestDeflate().compress([UInt8](repeating: 0, count: 10 * 1024 * 1024))
        #expect(bomb.count < 20 * 1024)
        var assembler = try compressedAssembler(maxMessageSize: 64 * 1024)
        #expect(violationCode(assembler.receive(clientFrame(.binary, bomb, rsv1: true))) == .messageTooBig)
        // Exactly the limit is fine; one byte more is not.
        var exact = try compressedAssembler(maxMessageSize: 1000)
        let atLimit = try TestDeflate().compress([UInt8](repeating: 7, count: 1000))
        #expect(exact.receive(clientFrame(.binary, atLimit, rsv1: true)) == .message(.binary, ByteBuffer(repeating: 7, count: 1000)))
        var over = try compressedAssembler(maxMessageSize: 1000)
        let overLimit = try TestDeflate().compress([UInt8](repeating: 7, count: 1001))
        #expect(violationCode(over.receive(clientFrame(.binary, overLimit, rsv1: true))) == .messageTooBig)
    }

    @Test func invalidUTF8IsCheckedAfterDecompression() throws {
        var assembler = try compressedAssembler()
        let output = assembler.receive(clientFrame(.text, try TestDeflate().compress([0x7B, 0xC3, 0x28, 0x7D]), rsv1: true))
        #expect(violationCode(output) == .invalidPayload)
        var truncated = try compressedAssembler()
        let cut = truncated.receive(clientFrame(.text, try TestDeflate().compress([0x61, 0xE2, 0x82]), rsv1: true))
        #expect(violationCode(cut) == .invalidPayload)
    }

    @Test func corruptDataIs1007() throws {
        var assembler = try compressedAssembler()
        // BTYPE 11 is reserved: not DEFLATE.
        #expect(violationCode(assembler.receive(clientFrame(.binary, [0xFF, 0xFF, 0xFF], rsv1: true))) == .invalidPayload)
    }

    @Test(arguments: [nil, 8, 9, 12] as [Int?])
    func deflaterOutputInflatesBackAcrossMessages(windowBits: Int?) throws {
        let parameters = PMD.Parameters(serverMaxWindowBits: windowBits)
        let deflater = try PMD.Deflater(parameters: parameters, configuration: .init())
        // The client inflates with exactly the agreed window, so a reference further back fails.
        let client = try TestDeflate(inflateWindowBits: Int32(windowBits ?? 15))
        let allocator = ByteBufferAllocator()
        for message in ["", "short", String(repeating: "a long and repetitive message ", count: 400), "short"] {
            let frame = try #require(deflater.compress(.text(message, allocator: allocator), allocator: allocator))
            let parsed = parseServerFrame(frame)
            #expect(parsed.opcode == 0x1)
            #expect(parsed.rsv1)
            #expect(String(decoding: try client.decompress(parsed.payload), as: UTF8.self) == message)
        }
        let big = [UInt8]((0..<200_000).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ $0 >> 7) })
        let frame = try #require(deflater.compress(.frame(opcode: .binary, payload: ByteBuffer(bytes: big), allocator: allocator), allocator: allocator))
        let parsed = parseServerFrame(frame)
        #expect(parsed.opcode == 0x2)
        #expect(try client.decompress(parsed.payload) == big)
    }

    @Test func serverNoContextTakeoverMessagesStandAlone() throws {
        let deflater = try PMD.Deflater(parameters: .init(serverNoContextTakeover: true), configuration: .init())
        let allocator = ByteBufferAllocator()
        let text = String(repeating: "stand alone ", count: 50)
        for _ in 0..<3 {
            let frame = try #require(deflater.compress(.text(text, allocator: allocator), allocator: allocator))
            // A fresh decompressor each time: no history needed.
            #expect(String(decoding: try TestDeflate().decompress(parseServerFrame(frame).payload), as: UTF8.self) == text)
        }
    }

    @Test func controlFramesAreNeverCompressed() throws {
        let deflater = try PMD.Deflater(parameters: .init(), configuration: .init())
        let allocator = ByteBufferAllocator()
        #expect(deflater.compress(.frame(opcode: .ping, payload: ByteBuffer(string: "p"), allocator: allocator), allocator: allocator) == nil)
        #expect(deflater.compress(.close(.normal, allocator: allocator), allocator: allocator) == nil)
    }
}
