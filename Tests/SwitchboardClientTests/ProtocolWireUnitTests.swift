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

    /// The formatter does its own calendar arithmetic, so it is checked against Foundation's
    /// Gregorian calendar (an independent implementation) on the days where such arithmetic
    /// goes wrong (leap days, century years, the day before 1970) and 20,000 random whole
    /// milliseconds from 1900 to 2100, each of which must come back as itself, not the one before.
    @Test("sent timestamps agree with Foundation's calendar on leap days, century years, before 1970 and 20,000 random milliseconds")
    func timestampsAgreeWithCalendar() {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = TimeZone(identifier: "UTC")!
        func expected(_ millis: Int64) -> String {
            let seconds = Int64((Double(millis) / 1000).rounded(.down))
            let parts = calendar.dateComponents([.year, .month, .day, .hour, .minute, .second], from: Date(timeIntervalSince1970: Double(seconds)))
            func pad(_ value: Int, _ width: Int) -> String { String(repeating: "0", count: max(0, width - String(value).count)) + String(value) }
            return "\(pad(parts.year!, 4))-\(pad(parts.month!, 2))-\(pad(parts.day!, 2))T\(pad(parts.hour!, 2)):\(pad(parts.minute!, 2)):\(pad(parts.second!, 2)).\(pad(Int(millis - seconds * 1000), 3))Z"
        }
        let fixed: [(Int64, String)] = [
            (-1, "1969-12-31T23:59:59.999Z"),
            (0, "1970-01-01T00:00:00.000Z"),
            (951_782_400_000, "2000-02-29T00:00:00.000Z"),
            (-2_203_891_200_000, "1900-03-01T00:00:00.000Z"),
            (4_107_542_399_999, "2100-02-28T23:59:59.999Z"),
            (4_107_542_400_000, "2100-03-01T00:00:00.000Z"),
            (253_402_300_799_999, "9999-12-31T23:59:59.999Z"),
        ]
        for (millis, text) in fixed {
            #expect(Timestamp.rfc3339(Date(timeIntervalSince1970: Double(millis) / 1000)) == text)
            #expect(expected(millis) == text)
        }
        var random = SystemRandomNumberGenerator()
        // A Date is a Double of seconds since 2001, which holds a microsecond only within
        // about 136 years of it: 1900...2100 is where a sent time can be written exactly.
        let earliest: Int64 = -2_208_988_800_000  // 1900-01-01
        let latest: Int64 = 4_102_444_800_000  // 2100-01-01
        for _ in 0..<20_000 {
            let millis = Int64.random(in: earliest...latest, using: &random)
            let text = Timestamp.rfc3339(Date(timeIntervalSince1970: Double(millis) / 1000))
            let want = expected(millis)
            #expect(text == want, "\(millis) ms")
            if text != want { break }
        }
    }

    @Test("HTTP Date headers are IMF-fixdate and agree with Foundation's formatter on fixed days and 20,000 random seconds")
    func httpDatesAgreeWithFormatter() {
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "GMT")
        formatter.dateFormat = "EEE, dd MMM yyyy HH:mm:ss 'GMT'"
        #expect(Timestamp.httpDate(secondsSince1970: 784_111_777) == "Sun, 06 Nov 1994 08:49:37 GMT")  // RFC 9110's example
        #expect(Timestamp.httpDate(secondsSince1970: -1) == "Wed, 31 Dec 1969 23:59:59 GMT")
        #expect(Timestamp.httpDate(secondsSince1970: 951_782_400) == "Tue, 29 Feb 2000 00:00:00 GMT")
        var random = SystemRandomNumberGenerator()
        for _ in 0..<20_000 {
            let seconds = Int64.random(in: -2_208_988_800...4_102_444_800, using: &random)
            let want = formatter.string(from: Date(timeIntervalSince1970: Double(seconds)))
            #expect(Timestamp.httpDate(secondsSince1970: seconds) == want, "\(seconds) s")
            if Timestamp.httpDate(secondsSince1970: seconds) != want { break }
        }
    }
}
