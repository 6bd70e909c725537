import Foundation
import NIOCore
import Switchboard
import SwitchboardTestSupport
import Testing

/// permessage-deflate (RFC 7692) end to end: negotiation in the upgrade, compressed frames
/// both ways, the decompressed-size limit.
@Suite("Compression (integration)")
struct CompressionIntegrationTests {
    private static var compressing: SwitchboardServerConfiguration {
        var configuration = SwitchboardServerConfiguration()
        configuration.connection.compression = PerMessageDeflate.Configuration()
        return configuration
    }

    private static let offer = ("Sec-WebSocket-Extensions", "permessage-deflate; client_max_window_bits")

    /// A client that negotiated deflate with no context takeover either way, as `zip`.
    private func connectWithoutContextTakeover(_ server: LibraryTestServer) async throws -> TestWebSocketClient {
        try await TestWebSocketClient.connect(
            port: server.port, path: "/ws?user=zip",
            headers: [("Sec-WebSocket-Extensions", "permessage-deflate; server_no_context_takeover; client_no_context_takeover")]
        )
    }

    /// The next message, which must be compressed, decompressed with `peer`.
    private func nextCompressed(_ client: TestWebSocketClient, _ peer: TestDeflate) async throws -> (opcode: UInt8, payload: [UInt8]) {
        while true {
            switch try await client.next() {
            case .ping, .pong:
                continue
            case .compressed(let opcode, let payload):
                return (opcode, try peer.decompress(payload))
            case let other:
                throw TestWebSocketClient.Timeout(waitingFor: "a compressed message, got \(other)")
            }
        }
    }

    @Test("echo: negotiated deflate, a compressed message comes back compressed, context kept across messages")
    func compressedEcho() async throws {
        try await LibraryTestServer.run(configuration: Self.compressing) { server in
            let client = try await TestWebSocketClient.connect(port: server.port, path: "/echo", headers: [Self.offer])
            #expect(client.responseHeader("Sec-WebSocket-Extensions") == "permessage-deflate")
            let peer = try TestDeflate()
            let text = "Hello, compressed world! " + String(repeating: "héllo ", count: 50)
            for _ in 0..<3 {
                try await client.sendFrame(opcode: 0x1, payload: try peer.compress(text), rsv1: true)
                let echo = try await nextCompressed(client, peer)
                #expect(echo.opcode == 0x1)
                #expect(String(decoding: echo.payload, as: UTF8.self) == text)
            }
            // Uncompressed messages are still allowed; the echo is compressed all the same.
            try await client.send(binary: [1, 2, 3])
            let echo = try await nextCompressed(client, peer)
            #expect(echo.opcode == 0x2)
            #expect(echo.payload == [1, 2, 3])
            try await client.sendClose()
            #expect(try await client.nextClose() == 1000)
        }
    }

    @Test("events: a compressed event gets a compressed ack through the hub's outbox")
    func compressedEvent() async throws {
        try await LibraryTestServer.run(configuration: Self.compressing) { server in
            let client = try await connectWithoutContextTakeover(server)
            #expect(client.responseHeader("Sec-WebSocket-Extensions")
                == "permessage-deflate; server_no_context_takeover; client_no_context_takeover")
            let peer = try TestDeflate(contextTakeover: false)
            for id in 1...2 {
                let event = #"{"type":"echo_event","id":\#(id),"payload":{"text":"squeeze me"}}"#
                try await client.sendFrame(opcode: 0x1, payload: try peer.compress(event), rsv1: true)
                let reply = try await nextCompressed(client, peer)
                let json = try #require(try JSONSerialization.jsonObject(with: Data(reply.payload)) as? [String: Any])
                #expect(json["type"] as? String == "ack")
                #expect(json["id"] as? Int == id)
            }
        }
    }

    @Test("broadcasts that meet in one loop pass reach a compressing member one compressed frame each, in order")
    func compressedBroadcastRun() async throws {
        try await LibraryTestServer.run(configuration: Self.compressing) { server in
            let client = try await connectWithoutContextTakeover(server)
            let peer = try TestDeflate(contextTakeover: false)
            try await client.sendFrame(opcode: 0x1, payload: try peer.compress(#"{"type":"join","payload":{"room":"r"},"id":1}"#), rsv1: true)
            _ = try await nextCompressed(client, peer)
            let runsBefore = server.combinedRuns
            server.holdingLoops {
                for n in 0..<10 { server.hub.broadcast(room: "r", frame: numberedFrame(n)) }
            }
            for n in 0..<10 {
                let message = try await nextCompressed(client, peer)
                let json = try #require(try JSONSerialization.jsonObject(with: Data(message.payload)) as? [String: Any])
                let payload = try #require(json["payload"] as? [String: Any])
                #expect(payload["n"] as? Int == n)
            }
            #expect(server.combinedRuns - runsBefore == 1)
        }
    }

    @Test("a zip bomb that inflates past the 64 KiB limit is closed with 1009")
    func zipBomb() async throws {
        try await LibraryTestServer.run(configuration: Self.compressing) { server in
            let client = try await TestWebSocketClient.connect(port: server.port, path: "/ws?user=bomb", headers: [Self.offer])
            #expect(client.responseHeader("Sec-WebSocket-Extensions") == "permessage-deflate")
            let bomb = try TestDeflate().compress([UInt8](repeating: UInt8(ascii: " "), count: 16 * 1024 * 1024))
            #expect(bomb.count < 64 * 1024)
            try await client.sendFrame(opcode: 0x1, payload: bomb, rsv1: true)
            #expect(try await client.nextClose() == 1009)
            try await client.waitForDisconnect()
        }
    }

    @Test("compression is off by default: no extension in the answer, and RSV1 stays a 1002")
    func offByDefault() async throws {
        try await LibraryTestServer.run { server in
            let client = try await TestWebSocketClient.connect(port: server.port, path: "/echo", headers: [Self.offer])
            #expect(client.responseHeader("Sec-WebSocket-Extensions") == nil)
            try await client.sendFrame(opcode: 0x1, payload: try TestDeflate().compress("hi"), rsv1: true)
            #expect(try await client.nextClose() == 1002)
        }
    }

    @Test("a client that offers nothing gets uncompressed frames from a compressing server")
    func notOffered() async throws {
        try await LibraryTestServer.run(configuration: Self.compressing) { server in
            let client = try await TestWebSocketClient.connect(port: server.port, path: "/echo")
            #expect(client.responseHeader("Sec-WebSocket-Extensions") == nil)
            try await client.send(text: "plain")
            #expect(try await client.next() == .text("plain"))
            try await client.sendFrame(opcode: 0x1, payload: try TestDeflate().compress("hi"), rsv1: true)
            #expect(try await client.nextClose() == 1002)
        }
    }
}
