import Foundation
import Testing
@testable import Switchboard

/// The envelope, or the rejection it was refused with.
private func decode(_ json: String) -> Result<Envelope, Envelope.Rejection> {
    decode(Data(json.utf8))
}

private func decode(_ data: Data) -> Result<Envelope, Envelope.Rejection> {
    do {
        return .success(try Envelope.decode(data))
    } catch {
        return .failure(error)
    }
}

private func rejectionOf(_ json: String) -> Envelope.Rejection? {
    if case .failure(let rejection) = decode(json) { return rejection }
    return nil
}

private func payloadError<P: Decodable>(_ json: String, as type: P.Type) throws -> EventError? {
    let envelope = try decode(json).get()
    do {
        _ = try envelope.payload(as: P.self)
        return nil
    } catch {
        return error
    }
}

private struct AllOptional: Decodable, Equatable {
    var room: String?
    var count: Int?
}

private struct SendMessage: Decodable, Equatable {
    var room: String
    var text: String
    var options: Options?

    struct Options: Decodable, Equatable {
        var silent: Bool
    }
}

@Suite("Envelope and EventID")
struct EnvelopeUnitTests {
    // MARK: valid envelopes

    @Test func decodesTypeAndIntegerID() throws {
        let envelope = try decode(#"{"type":"send","id":42,"payload":{"room":"lobby"}}"#).get()
        #expect(envelope.type == "send")
        #expect(envelope.id == .int(42))
    }

    @Test func decodesNegativeAndZeroIntegerIDs() throws {
        #expect(try decode(#"{"type":"t","id":0}"#).get().id == .int(0))
        #expect(try decode(#"{"type":"t","id":-7}"#).get().id == .int(-7))
    }

    @Test func decodesStringID() throws {
        let envelope = try decode(#"{"id":"req-1","type":"join"}"#).get()
        #expect(envelope.type == "join")
        #expect(envelope.id == .string("req-1"))
    }

    @Test func numericStringIDStaysAString() throws {
        // The id is echoed verbatim, so "7" must not become 7.
        #expect(try decode(#"{"type":"t","id":"7"}"#).get().id == .string("7"))
    }

    @Test func missingIDIsNil() throws {
        let envelope = try decode(#"{"type":"ping"}"#).get()
        #expect(envelope.type == "ping")
        #expect(envelope.id == nil)
    }

    @Test func nullIDIsNil() throws {
        let envelope = try decode(#"{"type":"ping","id":null}"#).get()
        #expect(envelope.id == nil)
    }

    @Test func unknownTopLevelFieldsAreIgnored() throws {
        let envelope = try decode(#"{"type":"ping","extra":[1,2,{"x":null}],"version":3}"#).get()
        #expect(envelope.type == "ping")
    }

    // MARK: rejections

    @Test(arguments: ["", "not json", "{", #"{"type":"t""#, "{'type':'t'}"])
    func textThatIsNotJSONIsBadJSON(text: String) throws {
        let rejection = try #require(rejectionOf(text))
        #expect(rejection.error.code == .badJSON)
        #expect(rejection.id == nil)
    }

    @Test func invalidUTF8IsBadJSON() throws {
        let data = Data([0x7B, 0x22, 0x74, 0x79, 0x70, 0x65, 0x22, 0x3A, 0x22, 0xFF, 0x22, 0x7D])  // {"type":"\xFF"}
        guard case .failure(let rejection) = decode(data) else {
            Issue.record("invalid UTF-8 was accepted")
            return
        }
        #expect(rejection.error.code == .badJSON || rejection.error.code == .badEvent)
    }

    @Test(arguments: ["[]", #"[{"type":"t"}]"#, "42", "3.5", #""send""#, "true", "null"])
    func jsonThatIsNotAnObjectIsBadEvent(text: String) throws {
        let rejection = try #require(rejectionOf(text))
        #expect(rejection.error.code == .badEvent)
        #expect(rejection.id == nil)
    }

    @Test(arguments: [
        (#"{"id":5}"#, EventID.int(5)),
        (#"{"id":"abc","payload":{}}"#, EventID.string("abc")),
        (#"{"type":7,"id":9}"#, EventID.int(9)),
        (#"{"type":null,"id":"x"}"#, EventID.string("x")),
        (#"{"type":{"name":"send"},"id":1}"#, EventID.int(1)),
        (#"{"type":["send"],"id":2}"#, EventID.int(2)),
    ])
    func missingOrNonStringTypeIsBadEventCarryingTheID(text: String, id: EventID) throws {
        let rejection = try #require(rejectionOf(text))
        #expect(rejection.error.code == .badEvent)
        #expect(rejection.id == id)
    }

    @Test func missingTypeWithoutIDIsBadEventWithoutID() throws {
        let rejection = try #require(rejectionOf("{}"))
        #expect(rejection.error.code == .badEvent)
        #expect(rejection.id == nil)
    }

    @Test(arguments: [
        #"{"type":"t","id":1.5}"#,
        #"{"type":"t","id":-0.25}"#,
        #"{"type":"t","id":{"n":1}}"#,
        #"{"type":"t","id":[1]}"#,
        #"{"type":"t","id":true}"#,
        #"{"type":"t","id":123456789012345678901234567890}"#,
    ])
    func idThatIsNeitherStringNorIntegerIsBadEvent(text: String) throws {
        let rejection = try #require(rejectionOf(text))
        #expect(rejection.error.code == .badEvent)
        #expect(rejection.id == nil)
    }

    @Test func deeplyNestedJSONDoesNotCrash() throws {
        let depth = 10_000
        let json = #"{"type":"send","id":1,"payload":{"room":"# + String(repeating: "[", count: depth)
            + String(repeating: "]", count: depth) + "}}"
        // Rejection anywhere is fine; the process must survive.
        if case .success(let envelope) = decode(json) {
            #expect(throws: EventError.self) { try envelope.payload(as: AllOptional.self) }
        }
        let bare = String(repeating: "[", count: depth) + String(repeating: "]", count: depth)
        #expect(rejectionOf(bare) != nil)
        let objects = String(repeating: #"{"a":"#, count: depth) + "1" + String(repeating: "}", count: depth)
        #expect(rejectionOf(objects) != nil)
    }

    // MARK: payloads

    @Test func payloadDecodesAsTheHandlersType() throws {
        let envelope = try decode(#"{"type":"send","payload":{"room":"lobby","text":"hi","options":{"silent":true}},"id":3}"#).get()
        let payload = try envelope.payload(as: SendMessage.self)
        #expect(payload == SendMessage(room: "lobby", text: "hi", options: .init(silent: true)))
    }

    @Test func unknownPayloadFieldsAreIgnored() throws {
        let envelope = try decode(#"{"type":"send","payload":{"room":"r","text":"t","color":"red","n":[1]}}"#).get()
        #expect(try envelope.payload(as: SendMessage.self) == SendMessage(room: "r", text: "t", options: nil))
    }

    @Test(arguments: [#"{"type":"ping"}"#, #"{"type":"ping","payload":null}"#, #"{"type":"ping","payload":{}}"#])
    func missingOrNullPayloadDecodesAsAnEmptyObject(text: String) throws {
        let envelope = try decode(text).get()
        #expect(try envelope.payload(as: AllOptional.self) == AllOptional())
    }

    @Test func missingPayloadForATypeWithRequiredFieldsIsBadPayloadNamingTheField() throws {
        let error = try #require(try payloadError(#"{"type":"send"}"#, as: SendMessage.self))
        #expect(error.code == .badPayload)
        #expect(error.message.contains("room"))
    }

    @Test func missingRequiredFieldIsBadPayloadNamingIt() throws {
        let error = try #require(try payloadError(#"{"type":"send","payload":{"room":"r"}}"#, as: SendMessage.self))
        #expect(error.code == .badPayload)
        #expect(error.message.contains("text"))
    }

    @Test(arguments: [#"[]"#, #"[1,2]"#, "5", #""str""#, "true"])
    func payloadThatIsNotAnObjectIsBadPayload(payload: String) throws {
        let error = try #require(try payloadError(#"{"type":"send","payload":"# + payload + "}", as: AllOptional.self))
        #expect(error.code == .badPayload)
    }

    @Test func fieldOfTheWrongTypeIsBadPayloadNamingTheField() throws {
        let error = try #require(try payloadError(#"{"type":"send","payload":{"room":"r","count":"three"}}"#, as: AllOptional.self))
        #expect(error.code == .badPayload)
        #expect(error.message.contains("count"))
        #expect(!error.message.contains("room"))
    }

    @Test func nestedFieldOfTheWrongTypeIsBadPayloadNamingItsPath() throws {
        let error = try #require(try payloadError(
            #"{"type":"send","payload":{"room":"r","text":"t","options":{"silent":"yes"}}}"#, as: SendMessage.self
        ))
        #expect(error.code == .badPayload)
        #expect(error.message.contains("options.silent"))
    }

    @Test func nullForARequiredFieldIsBadPayloadNamingIt() throws {
        let error = try #require(try payloadError(#"{"type":"send","payload":{"room":null,"text":"t"}}"#, as: SendMessage.self))
        #expect(error.code == .badPayload)
        #expect(error.message.contains("room"))
    }

    // MARK: EventID

    @Test(arguments: [EventID.int(0), .int(-12), .int(Int.max), .string(""), .string("7"), .string("é \"quoted\"")])
    func eventIDRoundTripsThroughJSON(id: EventID) throws {
        let data = try JSONEncoder().encode([id])
        #expect(try JSONDecoder().decode([EventID].self, from: data) == [id])
    }

    @Test func eventIDEncodesAsABareIntegerOrString() throws {
        #expect(String(decoding: try JSONEncoder().encode([EventID.int(5)]), as: UTF8.self) == "[5]")
        #expect(String(decoding: try JSONEncoder().encode([EventID.string("5")]), as: UTF8.self) == #"["5"]"#)
    }

    @Test func eventIDDescriptionIsTheRawValue() {
        #expect(EventID.int(12).description == "12")
        #expect(EventID.string("abc").description == "abc")
    }
}
