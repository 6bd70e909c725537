import Foundation
import NIOCore
import Switchboard
import SwitchboardTestSupport
import Testing

/// RFC 6455 rules and the inbound limits, provoked with real frames.
@Suite("Framing and limits (integration)")
struct FramingIntegrationTests {
    @Test("an unmasked client frame is answered with 1002 (RFC 6455 §5.1)")
    func unmasked() async throws {
        try await LibraryTestServer.run { server in
            let client = try await server.connect("m")
            try await client.sendFrame(opcode: 0x1, payload: Array("{}".utf8), masked: false)
            #expect(try await client.nextClose() == 1002)
            try await client.waitForDisconnect()
            try await eventually("removal") { server.hub.connectionCount == 0 }
        }
    }

    @Test("64 KiB is accepted, 64 KiB + 1 closes with 1009")
    func messageSize() async throws {
        try await LibraryTestServer.run { server in
            let client = try await server.connect("big")
            // Exactly the limit: a JSON event padded to 65,536 bytes gets an ack.
            let prefix = #"{"type":"echo_event","id":1,"payload":{"text":""#
            let suffix = #""}}"#
            let fill = 64 * 1024 - prefix.utf8.count - suffix.utf8.count
            try await client.send(text: prefix + String(repeating: "a", count: fill) + suffix)
            let ack = try await client.nextEvent(ofType: "ack")
            #expect(ack["id"] as? Int == 1)
            try await client.send(text: String(repeating: "a", count: 64 * 1024 + 1))
            #expect(try await client.nextClose() == 1009)
        }
    }

    @Test("64 KiB + 1 split over fragments also closes with 1009")
    func fragmentedMessageSize() async throws {
        try await LibraryTestServer.run { server in
            let client = try await server.connect("frag")
            let half = Array(repeating: UInt8(ascii: "a"), count: 32 * 1024)
            try await client.sendFrame(opcode: 0x1, payload: half, fin: false)
            try await client.sendFrame(opcode: 0x0, payload: half + [UInt8(ascii: "a")], fin: true)
            #expect(try await client.nextClose() == 1009)
        }
    }

    @Test("invalid UTF-8 in a text message closes with 1007")
    func invalidUTF8() async throws {
        try await LibraryTestServer.run { server in
            let client = try await server.connect("utf")
            try await client.sendFrame(opcode: 0x1, payload: [0x7B, 0xC3, 0x28, 0x7D])
            #expect(try await client.nextClose() == 1007)
        }
    }

    @Test("a fragmented control frame closes with 1002")
    func fragmentedControl() async throws {
        try await LibraryTestServer.run { server in
            let client = try await server.connect("ctl")
            try await client.sendFrame(opcode: 0x9, payload: [1, 2], fin: false)
            #expect(try await client.nextClose() == 1002)
        }
    }

    @Test("a ping is answered with a pong carrying the same payload")
    func pingPong() async throws {
        try await LibraryTestServer.run { server in
            let client = try await server.connect("p")
            try await client.sendFrame(opcode: 0x9, payload: [9, 8, 7])
            #expect(try await client.next() == .pong([9, 8, 7]))
        }
    }

    @Test("a binary message gets a bad_event error and the connection stays open")
    func binaryMessage() async throws {
        try await LibraryTestServer.run { server in
            let client = try await server.connect("bin")
            try await client.send(binary: [1, 2, 3])
            let error = try await client.nextEvent(ofType: "error")
            #expect((error["payload"] as? [String: Any])?["code"] as? String == "bad_event")
            try await client.send(text: #"{"type":"echo_event","id":"still-open"}"#)
            #expect(try await client.nextEvent(ofType: "ack")["id"] as? String == "still-open")
        }
    }

    @Test("a refused upgrade is answered with its status, not dropped")
    func refusedUpgrade() async throws {
        try await LibraryTestServer.run { server in
            do {
                _ = try await TestWebSocketClient.connect(port: server.port, path: "/elsewhere")
                Issue.record("the upgrade should have been refused")
            } catch let refused as TestWebSocketClient.Refused {
                #expect(refused.status == 403)
                #expect(refused.body.contains("not here"))
            }
        }
    }
}
