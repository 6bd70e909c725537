import Foundation
import SwitchboardProtocol
import Testing

/// The shared wire types say exactly what PROTOCOL.md says: field names as written there,
/// optional fields left out rather than sent as null.
@Suite("SwitchboardProtocol wire format")
struct ProtocolWireUnitTests {
    private func json(_ value: some Encodable) throws -> [String: Any] {
        let data = try JSONEncoder().encode(value)
        return try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
    }

    @Test("a send carries idempotency_key under that name; a join without since or epoch sends neither")
    func requests() throws {
        let send = try json(SendMessageRequest(room: "r", message: "m", idempotencyKey: "k-1"))
        #expect(send["idempotency_key"] as? String == "k-1")
        #expect(send.keys.sorted() == ["idempotency_key", "message", "room"])
        #expect(try json(JoinRoomRequest(room: "r")).keys.sorted() == ["room"])
        #expect(try json(JoinRoomRequest(room: "r", since: 3, epoch: "e")).keys.sorted() == ["epoch", "room", "since"])
    }

    @Test("an event is {type, id, payload}; the id stays a string or an integer")
    func envelope() throws {
        let event = try json(OutgoingEvent(type: EventType.leaveRoom, id: .int(7), payload: LeaveRoomRequest(room: "r")))
        #expect(event["type"] as? String == "leave_room")
        #expect(event["id"] as? Int == 7)
        #expect((event["payload"] as? [String: Any])?["room"] as? String == "r")
        let decoded = try Envelope.decode(Data(#"{"type":"ack","id":"x-1","payload":{"room":"r","seq":4}}"#.utf8))
        #expect(decoded.id == .string("x-1"))
        #expect(try decoded.payload(as: SendAck.self) == SendAck(room: "r", seq: 4))
    }

    @Test("a join ack without recovered leaves it out; login reads expires_in")
    func replies() throws {
        let ack = JoinAck(room: "r", members: ["a"], seq: 0, epoch: "e", history: [], more: false, recovered: nil)
        #expect(try json(ack)["recovered"] == nil)
        let login = try JSONDecoder().decode(LoginResponse.self, from: Data(#"{"ticket":"t","expires_in":30,"user":"u"}"#.utf8))
        #expect(login == LoginResponse(ticket: "t", expiresIn: 30, user: "u"))
    }

    @Test("sent timestamps are RFC 3339 UTC with milliseconds, and read back")
    func timestamps() throws {
        let date = Date(timeIntervalSince1970: 1_795_000_000.123)
        let text = Timestamp.rfc3339(date)
        #expect(text == "2026-11-18T11:06:40.123Z")
        let parsed = try #require(Timestamp.date(text))
        #expect(abs(parsed.timeIntervalSince(date)) < 0.001)
        #expect(Timestamp.date("yesterday") == nil)
    }
}
