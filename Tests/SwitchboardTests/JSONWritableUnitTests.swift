import Foundation
import NIOCore
import Testing
@testable import Switchboard

/// Any JSON document, decoded strictly (a number is never a bool), so that two encodings of
/// one value compare as JSON, not as bytes: key order and escapes may differ, keys and values
/// may not, and a key left out differs from one written as null.
private indirect enum JSONValue: Decodable, Equatable {
    case null, bool(Bool), number(Double), string(String), array([JSONValue]), object([String: JSONValue])

    init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        if container.decodeNil() {
            self = .null
        } else if let bool = try? container.decode(Bool.self) {
            self = .bool(bool)
        } else if let number = try? container.decode(Double.self) {
            self = .number(number)
        } else if let string = try? container.decode(String.self) {
            self = .string(string)
        } else if let array = try? container.decode([JSONValue].self) {
            self = .array(array)
        } else {
            self = .object(try container.decode([String: JSONValue].self))
        }
    }

    static func parse(_ data: Data) throws -> JSONValue { try JSONDecoder().decode(JSONValue.self, from: data) }
}

/// A server event as a client reads it.
private struct ReceivedEvent<Payload: Decodable & Equatable>: Decodable, Equatable {
    var type: String
    var id: EventID?
    var payload: Payload
}

/// The payload of a text frame, past its header.
private func framePayload(_ frame: OutboundFrame) -> Data {
    let bytes = Array(frame.bytes.readableBytesView)
    let lengthByte = bytes.count > 1 ? bytes[1] & 0x7F : 0
    return Data(bytes.dropFirst(lengthByte == 127 ? 10 : lengthByte == 126 ? 4 : 2))
}

/// The hand-written JSON of `value` is the JSON `JSONEncoder` writes for it, and decodes back
/// to `value` (which also checks integers beyond a Double's precision).
private func expectSameAsJSONEncoder<Value: JSONWritable & Codable & Equatable>(
    _ value: Value, sourceLocation: SourceLocation = #_sourceLocation
) throws {
    let hand = Data(value.jsonBuffer().readableBytesView)
    let reference = try JSONEncoder().encode(value)
    #expect(try JSONValue.parse(hand) == JSONValue.parse(reference), "\(String(decoding: hand, as: UTF8.self))", sourceLocation: sourceLocation)
    #expect(try JSONDecoder().decode(Value.self, from: hand) == value, sourceLocation: sourceLocation)
}

/// The frame carries the envelope `OutgoingEvent` encodes with `JSONEncoder`, and a client
/// decodes it back to the same type, id and payload.
private func expectEnvelope<Payload: Codable & Equatable>(
    _ frame: OutboundFrame, type: String, id: EventID?, payload: Payload, sourceLocation: SourceLocation = #_sourceLocation
) throws {
    let sent = framePayload(frame)
    let reference = try OutgoingEvent(type: type, id: id, payload: payload).json()
    #expect(try JSONValue.parse(sent) == JSONValue.parse(reference), "\(String(decoding: sent, as: UTF8.self))", sourceLocation: sourceLocation)
    let received = try JSONDecoder().decode(ReceivedEvent<Payload>.self, from: sent)
    #expect(received == ReceivedEvent(type: type, id: id, payload: payload), sourceLocation: sourceLocation)
}

/// Encodes differently by hand and through `Encodable`, to see which one `EventEncoding` took.
private struct TwoFaced: Codable, Equatable, Sendable, JSONWritable {
    var via: String

    init(via: String = "encoder") { self.via = via }

    func writeJSON(into buffer: inout ByteBuffer) {
        buffer.writeStaticString(#"{"via":"hand"}"#)
    }
}

/// An application's own payload: `Encodable` only.
private struct ApplicationPayload: Codable, Equatable, Sendable {
    var note: String
    var count: Int?
    var tags: [String]
}

@Suite("JSONWritable: hand-written JSON of the wire types")
struct JSONWritableUnitTests {
    static let hostileStrings: [String] = ByteBufferJSONUnitTests.samples + [
        String(String.UnicodeScalarView((0x00...0x1F).map { UnicodeScalar(UInt8($0)) })),
        "non-BMP \u{1F600}\u{10FFFF}\u{1D11E}",
        "slash / and \\/ and \\u0000 spelt out",
    ]

    static func message(_ text: String, seq: Int = 7) -> NewMessage {
        NewMessage(room: "room-\(seq)", from: text, message: text, sent: "2026-12-03T12:00:00.000Z", seq: seq)
    }

    static func joinAck(text: String, members: [String], history: [NewMessage], recovered: Bool?) -> JoinAck {
        JoinAck(room: text, members: members, seq: Int.max, epoch: text, history: history, more: recovered == false, recovered: recovered)
    }

    @Test("a new message with hostile text is the JSON JSONEncoder writes", arguments: hostileStrings)
    func newMessage(text: String) throws {
        try expectSameAsJSONEncoder(Self.message(text))
        try expectSameAsJSONEncoder(NewMessage(room: text, from: "", message: "", sent: text, seq: Int.min))
    }

    @Test("a join ack with hostile members and history is the JSON JSONEncoder writes", arguments: hostileStrings)
    func joinAckWithHostileStrings(text: String) throws {
        let members = [text, "plain", text + text]
        let history = [Self.message(text, seq: 1), Self.message("plain", seq: 2)]
        try expectSameAsJSONEncoder(Self.joinAck(text: text, members: members, history: history, recovered: true))
    }

    @Test("a join ack leaves recovered out when nil and writes it when true or false", arguments: [nil, true, false] as [Bool?])
    func joinAckRecovered(recovered: Bool?) throws {
        let ack = Self.joinAck(text: "lobby", members: ["a"], history: [Self.message("hi")], recovered: recovered)
        try expectSameAsJSONEncoder(ack)
        let object = try JSONSerialization.jsonObject(with: Data(ack.jsonBuffer().readableBytesView)) as? [String: Any]
        #expect(object?.keys.contains("recovered") == (recovered != nil))
    }

    @Test("a join ack with no members and no history has empty arrays")
    func joinAckEmpty() throws {
        let ack = Self.joinAck(text: "", members: [], history: [], recovered: nil)
        try expectSameAsJSONEncoder(ack)
        let object = try JSONSerialization.jsonObject(with: Data(ack.jsonBuffer().readableBytesView)) as? [String: Any]
        #expect((object?["members"] as? [Any])?.isEmpty == true)
        #expect((object?["history"] as? [Any])?.isEmpty == true)
    }

    @Test("send ack, history page, error and login answer are the JSON JSONEncoder writes", arguments: hostileStrings)
    func otherPayloads(text: String) throws {
        try expectSameAsJSONEncoder(SendAck(room: text, seq: 0))
        try expectSameAsJSONEncoder(SendAck(room: "r", seq: Int.max))
        try expectSameAsJSONEncoder(HistoryAck(room: text, epoch: text, messages: [Self.message(text), Self.message("x", seq: 8)], more: true))
        try expectSameAsJSONEncoder(HistoryAck(room: "r", epoch: "", messages: [], more: false))
        try expectSameAsJSONEncoder(ErrorPayload(code: .badPayload, message: text))
        try expectSameAsJSONEncoder(ErrorPayload(code: ErrorCode(rawValue: text), message: ""))
        try expectSameAsJSONEncoder(LoginResponse(ticket: text, expiresIn: 30, user: text))
        try expectSameAsJSONEncoder(LoginResponse(ticket: "t", expiresIn: Int.max, user: ""))
    }

    @Test("the login answer's keys are ticket, expires_in and user")
    func loginKeys() throws {
        let object = try JSONSerialization.jsonObject(
            with: Data(LoginResponse(ticket: "t", expiresIn: 30, user: "u").jsonBuffer().readableBytesView)
        ) as? [String: Any]
        #expect(object?.keys.sorted() == ["expires_in", "ticket", "user"])
        #expect(object?["expires_in"] as? Int == 30)
    }

    @Test(
        "an ack's envelope carries an int or string id as JSONEncoder writes it",
        arguments: [.int(0), .int(-1), .int(Int.max), .int(Int.min), .string(""), .string("42"), .string("a\"b\\c\u{0}\u{1F600}")] as [EventID]
    )
    func ackEnvelope(id: EventID) throws {
        let ack = Self.joinAck(text: "lobby", members: ["a", "b"], history: [Self.message("hi \"there\"")], recovered: nil)
        try expectEnvelope(try EventEncoding.ack(id: id, payload: ack), type: "ack", id: id, payload: ack)
        let sendAck = SendAck(room: "lobby", seq: 12)
        try expectEnvelope(try EventEncoding.ack(id: id, payload: sendAck), type: "ack", id: id, payload: sendAck)
    }

    @Test("an event without an id leaves id out of its envelope")
    func envelopeWithoutID() throws {
        let payload = HistoryAck(room: "r", epoch: "e", messages: [], more: false)
        let frame = try EventEncoding.frame(type: "custom \"type\"", payload: payload)
        try expectEnvelope(frame, type: "custom \"type\"", id: nil, payload: payload)
        let object = try JSONSerialization.jsonObject(with: framePayload(frame)) as? [String: Any]
        #expect(object?.keys.sorted() == ["payload", "type"])
    }

    @Test("an error event is the envelope JSONEncoder writes", arguments: [nil, .int(3), .string("x")] as [EventID?])
    func errorEnvelope(id: EventID?) throws {
        let error = EventError(.badPayload, "field \"room\" \\ \u{1} 😀")
        try expectEnvelope(EventEncoding.error(error, id: id), type: "error", id: id, payload: ErrorPayload(code: error.code, message: error.message))
    }

    @Test("a JSONWritable payload is written by hand, also when the router passes it as any Encodable")
    func writableIsWrittenByHand() throws {
        let payload: any Encodable & Sendable = TwoFaced()
        let frame = try EventEncoding.ack(id: .int(1), payload: payload)
        let received = try JSONDecoder().decode(ReceivedEvent<TwoFaced>.self, from: framePayload(frame))
        #expect(received.payload.via == "hand")
    }

    @Test("an application's Encodable payload still goes through JSONEncoder", arguments: hostileStrings)
    func encodableFallback(text: String) throws {
        for payload in [ApplicationPayload(note: text, count: nil, tags: []), ApplicationPayload(note: "", count: 3, tags: [text, "x"])] {
            try expectEnvelope(try EventEncoding.ack(id: .string(text), payload: payload), type: "ack", id: .string(text), payload: payload)
            try expectEnvelope(try EventEncoding.frame(type: "notice", payload: payload), type: "notice", id: nil, payload: payload)
        }
    }

    @Test("the size estimate covers a document without escapes, so its buffer is allocated once")
    func sizeEstimates() {
        let history = (1...50).map { Self.message(String(repeating: "x", count: 100), seq: Int.max - $0) }
        let values: [any JSONWritable] = [
            Self.joinAck(text: "lobby", members: (0..<20).map { "user\($0)" }, history: history, recovered: false),
            Self.joinAck(text: "", members: [], history: [], recovered: true),
            HistoryAck(room: "lobby", epoch: "e", messages: history, more: false),
            SendAck(room: "lobby", seq: Int.min),
            ErrorPayload(code: .internal, message: "internal error"),
            LoginResponse(ticket: String(repeating: "t", count: 43), expiresIn: Int.min, user: "alice"),
            EventID.int(Int.min), EventID.string("abc"),
        ]
        for value in values {
            let written = value.jsonBuffer().readableBytes
            #expect(written <= value.jsonSizeEstimate, "\(type(of: value)): \(written) > \(value.jsonSizeEstimate)")
        }
    }
}
