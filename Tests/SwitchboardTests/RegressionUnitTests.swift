import Foundation
import NIOCore
import Testing
@testable import Switchboard

@Suite("Regressions found by unit tests")
struct RegressionUnitTests {
    @Test(arguments: [(122, "é"), (121, "€"), (122, "😀"), (120, "😀"), (121, "😀")])
    func closeReasonTruncatedInsideACharacterStillFits125BytesAndIsUTF8(ascii: Int, tail: String) throws {
        let reason = String(repeating: "a", count: ascii) + tail + "zzz"
        let frame = OutboundFrame.close(.goingAway, reason: reason, allocator: ByteBufferAllocator())
        let bytes = Array(frame.bytes.readableBytesView)
        #expect(bytes[0] == 0x88)
        #expect(bytes[1] <= 125, "payload length byte \(bytes[1]), frame \(bytes.count) bytes")
        let reasonBytes = Array(bytes.dropFirst(bytes[1] == 126 ? 6 : 4))
        #expect(reasonBytes.count <= 123, "reason \(reasonBytes.count) bytes")
        let decoded = try #require(String(validating: reasonBytes, as: UTF8.self))
        #expect(!decoded.contains("\u{FFFD}"), "\(reasonBytes.suffix(4))")
        #expect(reason.hasPrefix(decoded))
    }

    struct Wrapper: Decodable { var payload: Int?; var other: Int? }
    @Test func fieldNamedPayloadIsNamed() throws {
        let envelope = try Envelope.decode(Data(#"{"type":"t","payload":{"payload":"x"}}"#.utf8))
        do { _ = try envelope.payload(as: Wrapper.self); Issue.record("accepted") }
        catch { #expect(error.message.contains("payload"), "\(error.message)") ; print("MSG:", error.message) }
    }

    @Test func negativeAfterIsComplete() async throws {
        let store = InMemoryRoomStore()
        for _ in 1...3 { _ = try await store.append(room: "r", from: "a", message: "m", sent: Date()) }
        let slice = try await store.history(room: "r", after: -1, through: 3, limit: 10)
        #expect(slice.messages.map(\.seq) == [1, 2, 3])
        #expect(slice.complete)
    }
}
