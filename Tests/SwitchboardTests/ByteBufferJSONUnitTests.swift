import Foundation
import NIOCore
import SwitchboardTestSupport
import Testing
@testable import Switchboard


/// The bytes `writeJSONString` produces for `string`.
private func encoded(_ string: String) -> [UInt8] {
    var buffer = ByteBufferAllocator().buffer(capacity: 0)
    buffer.writeJSONString(string)
    return Array(buffer.readableBytesView)
}

/// Parses the encoded string back with Foundation's JSON parser (inside an array, so no
/// top-level fragment support is needed).
private func roundTrip(_ string: String) throws -> String? {
    let json = Data("[".utf8) + Data(encoded(string)) + Data("]".utf8)
    let array = try JSONSerialization.jsonObject(with: json) as? [Any]
    return array?.first as? String
}

/// The same with JSONDecoder. swift-corelibs-foundation's JSONSerialization drops a U+FEFF
/// at the start of a string or right after an escape, so strings containing it are checked here.
private func decoderRoundTrip(_ string: String) throws -> String? {
    let json = Data("[".utf8) + Data(encoded(string)) + Data("]".utf8)
    return try JSONDecoder().decode([String].self, from: json).first
}

@Suite("ByteBuffer.writeJSONString")
struct ByteBufferJSONUnitTests {
    static let samples: [String] = [
        "",
        "plain",
        "say \"hi\"",
        "\"",
        "\"\"\"",
        "back\\slash",
        "\\",
        "\\\"",
        "C:\\path\\to\\\"file\"",
        "line\nbreak\r\nand\ttab",
        "\u{0}",
        "nul\u{0}inside",
        "\u{7F} delete",
        "emoji 😀👋🏽👨‍👩‍👧",
        "</script><script>alert(1)</script>",
        "<!-- -->",
        "unicode separators \u{2028} \u{2029}",
        "é and e\u{301}",
        "{\"nested\":\"json\"}",
        "/ solidus",
        "\u{1F}\u{1}\u{8}\u{C}",
    ]

    @Test(arguments: samples)
    func roundTripsThroughJSONSerialization(string: String) throws {
        #expect(try roundTrip(string) == string)
    }

    @Test func everyControlCharacterRoundTripsAlone() throws {
        for value in UInt8(0x00)...0x1F {
            let string = String(UnicodeScalar(value))
            #expect(try roundTrip(string) == string, "U+\(String(value, radix: 16))")
            #expect(try roundTrip("a\(string)b") == "a\(string)b", "U+\(String(value, radix: 16)) inside text")
        }
    }

    @Test func allControlCharactersTogetherRoundTrip() throws {
        let string = String(String.UnicodeScalarView((0x00...0x1F).map { UnicodeScalar(UInt8($0)) }))
        #expect(try roundTrip(string) == string)
    }

    @Test func outputIsQuotedAndContainsNoRawControlCharacters() {
        let string = String(String.UnicodeScalarView((0x00...0x7F).map { UnicodeScalar(UInt8($0)) }))
        let bytes = encoded(string)
        #expect(bytes.first == UInt8(ascii: "\""))
        #expect(bytes.last == UInt8(ascii: "\""))
        #expect(!bytes.contains { $0 < 0x20 })
        // Between the delimiting quotes every quote is escaped.
        let inner = bytes.dropFirst().dropLast()
        var previousWasBackslash = false
        for byte in inner {
            if byte == UInt8(ascii: "\"") { #expect(previousWasBackslash) }
            previousWasBackslash = byte == UInt8(ascii: "\\") && !previousWasBackslash
        }
    }

    @Test func commonEscapesUseTheirShortForms() {
        #expect(encoded("\"") == Array(#""\"""#.utf8))
        #expect(encoded("\\") == Array(#""\\""#.utf8))
        #expect(encoded("\n\r\t") == Array(#""\n\r\t""#.utf8))
        #expect(encoded("\u{0}\u{1F}") == Array(#""\u0000\u001f""#.utf8))
    }

    @Test func nonASCIIIsWrittenAsRawUTF8() {
        #expect(encoded("é😀") == [UInt8(ascii: "\"")] + Array("é😀".utf8) + [UInt8(ascii: "\"")])
    }

    @Test func appendsAfterExistingContent() throws {
        var buffer = ByteBufferAllocator().buffer(capacity: 4)
        buffer.writeString(#"{"text":"#)
        buffer.writeJSONString("a \"b\"\n")
        buffer.writeString("}")
        let object = try JSONSerialization.jsonObject(with: Data(buffer.readableBytesView)) as? [String: Any]
        #expect(object?["text"] as? String == "a \"b\"\n")
    }

    @Test func randomStringsRoundTrip() throws {
        var rng = XorShiftRNG(seed: 0x15_0B5E55ED)
        let alphabet: [Unicode.Scalar] = (0x00...0x7F).compactMap(Unicode.Scalar.init)
            + ["é", "€", "😀", "\u{2028}", "\u{FEFF}", "\u{10FFFF}", "中"]
        for _ in 0..<2_000 {
            let count = Int.random(in: 0...40, using: &rng)
            var scalars = String.UnicodeScalarView()
            for _ in 0..<count { scalars.append(alphabet.randomElement(using: &rng)!) }
            let string = String(scalars)
            #expect(try decoderRoundTrip(string) == string, "\(Array(string.utf8))")
            if !string.unicodeScalars.contains("\u{FEFF}") {
                #expect(try roundTrip(string) == string, "\(Array(string.utf8))")
            }
        }
    }

    @Test(arguments: ["\u{FEFF}", "\u{FEFF}x", "\n\u{FEFF}", "a\u{FEFF}b"])
    func byteOrderMarkIsKeptVerbatim(string: String) throws {
        var expected: [UInt8] = [UInt8(ascii: "\"")]
        for byte in string.utf8 {
            if byte == 0x0A { expected += Array("\\n".utf8) } else { expected.append(byte) }
        }
        expected.append(UInt8(ascii: "\""))
        #expect(encoded(string) == expected)
        #expect(try decoderRoundTrip(string) == string)
    }

    @Test func longStringRoundTrips() throws {
        let string = String(repeating: "quote \" backslash \\ newline \n 😀 ", count: 5_000)
        #expect(try roundTrip(string) == string)
    }
}
