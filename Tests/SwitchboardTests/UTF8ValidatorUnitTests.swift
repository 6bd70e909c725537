import SwitchboardTestSupport
import Testing
@testable import Switchboard


/// Feeds all bytes at once; valid means accepted and ending on a character boundary.
private func validates(_ bytes: [UInt8]) -> Bool {
    var validator = UTF8Validator()
    return validator.feed(bytes) && validator.isComplete
}

/// Feeds one byte at a time, stopping at the first rejection.
private func validatesByteByByte(_ bytes: [UInt8]) -> Bool {
    var validator = UTF8Validator()
    for byte in bytes where !validator.feed([byte]) { return false }
    return validator.isComplete
}

private func hex(_ bytes: [UInt8]) -> String {
    bytes.map { String($0, radix: 16, uppercase: true) }.joined(separator: " ")
}

@Suite("UTF8Validator")
struct UTF8ValidatorUnitTests {
    static let valid: [[UInt8]] = [
        [],
        Array("plain ASCII {\"json\": true}".utf8),
        [0x00, 0x7F],  // U+0000 and U+007F
        [0xC2, 0x80],  // U+0080, smallest 2-byte
        [0xC3, 0xA9],  // é
        [0xDF, 0xBF],  // U+07FF, largest 2-byte
        [0xE0, 0xA0, 0x80],  // U+0800, smallest 3-byte
        [0xE2, 0x82, 0xAC],  // €
        [0xED, 0x9F, 0xBF],  // U+D7FF, just below the surrogates
        [0xEE, 0x80, 0x80],  // U+E000, just above the surrogates
        [0xEF, 0xBF, 0xBF],  // U+FFFF
        [0xF0, 0x90, 0x80, 0x80],  // U+10000, smallest 4-byte
        [0xF0, 0x9F, 0x98, 0x80],  // 😀
        [0xF4, 0x8F, 0xBF, 0xBF],  // U+10FFFF, the largest code point
        Array("Grüße, 世界! 👋🏽 Ωμέγα".utf8),
    ]

    static let invalid: [[UInt8]] = [
        [0x80],  // lone continuation byte
        [0xBF],
        [0x61, 0x80, 0x62],  // continuation after ASCII
        [0xC3, 0xA9, 0xA9],  // one continuation too many
        [0xC0, 0x80],  // overlong U+0000
        [0xC1, 0xBF],  // overlong U+007F
        [0xE0, 0x80, 0x80],  // overlong 3-byte U+0000
        [0xE0, 0x9F, 0xBF],  // overlong U+07FF
        [0xF0, 0x80, 0x80, 0x80],  // overlong 4-byte
        [0xF0, 0x8F, 0xBF, 0xBF],  // overlong U+FFFF
        [0xED, 0xA0, 0x80],  // U+D800, high surrogate
        [0xED, 0xBF, 0xBF],  // U+DFFF, low surrogate
        [0xED, 0xA0, 0x80, 0xED, 0xB0, 0x80],  // CESU-8 surrogate pair
        [0xF4, 0x90, 0x80, 0x80],  // U+110000, beyond Unicode
        [0xF5, 0x80, 0x80, 0x80],
        [0xF7, 0xBF, 0xBF, 0xBF],
        [0xF8, 0x88, 0x80, 0x80, 0x80],  // 5-byte form
        [0xFC, 0x84, 0x80, 0x80, 0x80, 0x80],  // 6-byte form
        [0xFE],
        [0xFF],
        [0xC3, 0x41],  // lead byte followed by ASCII
        [0xE2, 0x82, 0x41],
        [0xF0, 0x9F, 0x98, 0x41],
    ]

    static let truncated: [[UInt8]] = [
        [0xC3],
        [0x61, 0xE2],
        [0xE2, 0x82],
        [0xF0],
        [0xF0, 0x9F],
        [0xF0, 0x9F, 0x98],
    ]

    @Test(arguments: valid)
    func validSequencesAreAcceptedWholeAndByteByByte(bytes: [UInt8]) {
        #expect(validates(bytes), "\(hex(bytes))")
        #expect(validatesByteByByte(bytes), "\(hex(bytes))")
    }

    @Test(arguments: invalid)
    func invalidSequencesAreRejected(bytes: [UInt8]) {
        var validator = UTF8Validator()
        let accepted1 = validator.feed(bytes)
        #expect(!accepted1, "\(hex(bytes))")
        #expect(!validatesByteByByte(bytes), "\(hex(bytes))")
    }

    @Test(arguments: truncated)
    func truncatedSequencesAreAcceptedSoFarButIncomplete(bytes: [UInt8]) {
        var validator = UTF8Validator()
        let accepted2 = validator.feed(bytes)
        #expect(accepted2, "\(hex(bytes))")
        #expect(!validator.isComplete, "\(hex(bytes))")
    }

    @Test func rejectionIsReportedAtTheFirstBadByte() {
        var validator = UTF8Validator()
        let accepted3 = validator.feed(Array("fine so far ".utf8))
        #expect(accepted3)
        let accepted4 = validator.feed([0xE2, 0x82])
        #expect(accepted4)
        let accepted5 = validator.feed([0x41])
        #expect(!accepted5)
    }

    @Test func rejectionIsSticky() {
        var validator = UTF8Validator()
        let accepted6 = validator.feed([0xFF])
        #expect(!accepted6)
        let accepted7 = validator.feed(Array("valid text afterwards".utf8))
        #expect(!accepted7)
        #expect(!validator.isComplete)
    }

    @Test func isCompleteTracksCharacterBoundariesWhileFeeding() {
        let text = "aé€😀"
        var validator = UTF8Validator()
        #expect(validator.isComplete)
        var boundaries = Set<Int>()
        var offset = 0
        for scalar in text.unicodeScalars {
            offset += String(scalar).utf8.count
            boundaries.insert(offset)
        }
        for (index, byte) in text.utf8.enumerated() {
            let accepted8 = validator.feed(CollectionOfOne(byte))
            #expect(accepted8)
            #expect(validator.isComplete == boundaries.contains(index + 1), "after byte \(index)")
        }
        #expect(validator.isComplete)
    }

    @Test func everyCodePointIsAcceptedAndEverySurrogateRejected() {
        for value in UInt32(0)...0x10FFFF {
            if let scalar = Unicode.Scalar(value) {
                var bytes: [UInt8] = []
                UTF8.encode(scalar) { bytes.append($0) }
                if !validates(bytes) {
                    Issue.record("U+\(String(value, radix: 16)) \(hex(bytes)) rejected")
                    return
                }
            } else {
                // A surrogate, encoded as CESU would: ED A0..BF xx.
                let bytes: [UInt8] = [0xE0 | UInt8(value >> 12), 0x80 | UInt8((value >> 6) & 0x3F), 0x80 | UInt8(value & 0x3F)]
                if validates(bytes) {
                    Issue.record("surrogate U+\(String(value, radix: 16)) accepted")
                    return
                }
            }
        }
    }

    @Test func randomBytesAgreeWithTheStandardLibraryWhateverTheSplit() {
        var rng = XorShiftRNG(seed: 0xC0FF_EE12_3456)
        // Bytes drawn mostly from the interesting ranges so that valid sequences occur often.
        let pool: [ClosedRange<UInt8>] = [0x00...0x7F, 0x80...0xBF, 0x80...0xBF, 0xC0...0xC3, 0xC2...0xDF, 0xE0...0xEF, 0xED...0xED, 0xF0...0xF4, 0xF4...0xFF]
        for _ in 0..<20_000 {
            let count = Int.random(in: 0...12, using: &rng)
            let bytes: [UInt8] = (0..<count).map { _ in UInt8.random(in: pool.randomElement(using: &rng)!, using: &rng) }
            let expected = String(validating: bytes, as: UTF8.self) != nil

            #expect(validates(bytes) == expected, "\(hex(bytes))")

            // Fed in random pieces, as fragments arrive.
            var validator = UTF8Validator()
            var rest = bytes[...]
            var accepted = true
            while !rest.isEmpty {
                let size = Int.random(in: 1...rest.count, using: &rng)
                if !validator.feed(rest.prefix(size)) { accepted = false; break }
                rest = rest.dropFirst(size)
            }
            #expect((accepted && validator.isComplete) == expected, "split \(hex(bytes))")
        }
    }
}
