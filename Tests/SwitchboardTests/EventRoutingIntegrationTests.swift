import Foundation
import Logging
import Switchboard
import SwitchboardTestSupport
import Testing

/// The router's replies, over a real connection: every failure is an error event and the
/// connection stays open.
@Suite("Event routing (integration)")
struct EventRoutingIntegrationTests {
    @Test("acks echo integer and string ids; no id means no ack")
    func acks() async throws {
        try await LibraryTestServer.run { server in
            let client = try await server.connect("ids")
            try await client.send(text: #"{"type":"echo_event","id":7,"payload":{"text":"a"}}"#)
            let intAck = try await client.nextEvent(ofType: "ack")
            #expect(intAck["id"] as? Int == 7)
            #expect((intAck["payload"] as? [String: Any])?["text"] as? String == "a")
            try await client.send(text: #"{"type":"echo_event","payload":{"text":"silent"}}"#)
            try await client.send(text: #"{"type":"echo_event","id":"s-1"}"#)
            let stringAck = try await client.nextEvent(ofType: "ack")
            #expect(stringAck["id"] as? String == "s-1")
        }
    }

    @Test("an application that does not run the hub as a service still gets its events handled, in order, and a warning")
    func hubNotRunning() async throws {
        try await LibraryTestServer.run(runHub: false) { server in
            let client = try await server.connect("unowned")
            for id in 1...20 {
                try await client.send(text: #"{"type":"echo_event","id":\#(id),"payload":{"text":"t\#(id)"}}"#)
            }
            for id in 1...20 {
                let ack = try await client.nextEvent(ofType: "ack")
                #expect(ack["id"] as? Int == id)
            }
            let warnings = server.logs.entries(atLeast: .warning).filter { $0.message.contains("not running as a service") }
            #expect(warnings.count == 1)
        }
    }

    @Test("bad input gets the right error code and the connection stays open", arguments: [
        (#"not json"#, "bad_json", nil),
        (#"[1,2]"#, "bad_event", nil),
        (#"{"payload":{}}"#, "bad_event", nil),
        (#"{"type":5,"id":3}"#, "bad_event", 3),
        (#"{"type":"nope","id":4}"#, "unknown_event", 4),
        (#"{"type":"echo_event","payload":{"text":5},"id":5}"#, "bad_payload", 5),
        (#"{"type":"echo_event","payload":[1],"id":6}"#, "bad_payload", 6),
        (#"{"type":"fail","id":8}"#, "forbidden", 8),
        (#"{"type":"crash","id":9}"#, "internal", 9),
    ] as [(String, String, Int?)])
    func badInput(message: String, code: String, id: Int?) async throws {
        try await LibraryTestServer.run { server in
            let client = try await server.connect("bad")
            try await client.send(text: message)
            let error = try await client.nextEvent(ofType: "error")
            #expect((error["payload"] as? [String: Any])?["code"] as? String == code)
            #expect(error["id"] as? Int == id)
            try await client.send(text: #"{"type":"echo_event","id":"after"}"#)
            #expect(try await client.nextEvent(ofType: "ack")["id"] as? String == "after")
            #expect(server.hub.connectionCount == 1)
        }
    }
}
