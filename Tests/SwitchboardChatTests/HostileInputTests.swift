import Foundation
import NIOCore
import Switchboard
import SwitchboardChat
import SwitchboardTestSupport
import Testing

/// Bad input gets a clear error or close code, loses nothing that was acknowledged, and
/// never takes the server down.
@Suite("Hostile input")
struct HostileInputTests {
    static let nestedPayload: String = {
        let open = String(repeating: "[", count: 20_000)
        let close = String(repeating: "]", count: 20_000)
        return "{\"type\":\"join_room\",\"id\":1,\"payload\":{\"room\":" + open + close + "}}"
    }()

    static let malformedCases: [(String, [String])] = [
        (nestedPayload, ["bad_payload", "bad_json"]),
        (String(repeating: "[", count: 30_000) + String(repeating: "]", count: 30_000), ["bad_json", "bad_event"]),
        (#"{"type":"join_room","id":2,"payload":{"room":"r","since":1e400}}"#, ["bad_payload", "bad_json"]),
        (#"{"type":"join_room","id":3,"payload":{"room":"r","since":123456789012345678901234567890}}"#, ["bad_payload", "bad_json"]),
        (#"{"type":"join_room","id":123456789012345678901234567890,"payload":{"room":"r"}}"#, ["bad_event", "bad_json"]),
        (#"{"type":["join_room"],"id":4}"#, ["bad_event"]),
        (#"{"type":"send_message","id":5,"payload":{"room":"r","message":{"text":"hi"}}}"#, ["bad_payload"]),
        (#"{"type":"send_message","id":6,"payload":{"room":null,"message":"hi"}}"#, ["bad_payload"]),
        ("\u{FEFF}{}", ["bad_json", "bad_event"]),
        ("null", ["bad_event", "bad_json"]),
    ]

    @Test("deeply nested JSON, huge numbers and wrong types get errors; the connection stays open", arguments: malformedCases)
    func malformed(message: String, codes: [String]) async throws {
        try await ChatTestServer.run { server in
            let client = try await server.connect("hostile")
            try await client.send(raw: message)
            let error = try await client.socket.nextEvent(ofType: "error")
            #expect(codes.contains(payload(error)["code"] as? String ?? "-"), "got \(error)")
            #expect(try await client.request("join_room", ["room": "ok"])["type"] as? String == "ack")
        }
    }

    /// Quotes, backslashes, every kind of control character, a closing script tag, a line
    /// separator and non-BMP scalars: what would break out of a JSON string if not escaped.
    static let breakoutText = "say \"hi\" \\ C:\\new \u{0}\u{1}\u{8}\u{C}\u{1F}\n\r\t </script> \u{2028} 😀👋🏽 \u{10FFFF}"

    @Test("quotes, backslashes, control characters and emoji in a message, an id and a type come back unchanged in acks, new_message, join ack history, history pages and errors")
    func breakoutTextRoundTrips() async throws {
        try await ChatTestServer.run { server in
            let alice = try await server.connect("alice")
            let bob = try await server.connect("bob")
            try await alice.request("join_room", ["room": "r"])
            try await bob.request("join_room", ["room": "r"])
            let send: [String: Any] = ["type": "send_message", "id": Self.breakoutText, "payload": ["room": "r", "message": Self.breakoutText]]
            try await alice.send(raw: String(decoding: try JSONSerialization.data(withJSONObject: send), as: UTF8.self))
            let ack = try await alice.socket.nextEvent(ofType: "ack")
            #expect(ack["id"] as? String == Self.breakoutText)
            #expect(payload(ack)["room"] as? String == "r" && payload(ack)["seq"] as? Int == 1)
            let delivered = payload(try await bob.next("new_message"))
            #expect(delivered["message"] as? String == Self.breakoutText && delivered["from"] as? String == "alice")

            let carol = try await server.connect("carol")
            let join = try await carol.request("join_room", ["room": "r"])
            #expect((payload(join)["history"] as? [[String: Any]])?.map { $0["message"] as? String } == [Self.breakoutText])
            let page = try await carol.request("history", ["room": "r", "since": 0])
            #expect((payload(page)["messages"] as? [[String: Any]])?.map { $0["message"] as? String } == [Self.breakoutText])

            let unknown: [String: Any] = ["type": Self.breakoutText, "id": 7]
            try await carol.send(raw: String(decoding: try JSONSerialization.data(withJSONObject: unknown), as: UTF8.self))
            let error = try await carol.socket.nextEvent(ofType: "error")
            #expect(error["id"] as? Int == 7 && payload(error)["code"] as? String == "unknown_event")
            #expect(payload(error)["message"] as? String == "unknown event type \"\(Self.breakoutText)\"")
        }
    }

    @Test("a flood gets rate_limited errors, then 4029; acknowledged messages are kept; others are unaffected")
    func flood() async throws {
        try await ChatTestServer.run({
            $0.connection.rateLimit = .init(eventsPerSecond: 5, burst: 10, refusalBurst: 20)
        }) { server in
            let bystander = try await server.connect("bystander")
            try await bystander.request("join_room", ["room": "f"])
            let flooder = try await server.connect("flooder")
            try await flooder.request("join_room", ["room": "f"])
            // The server closes the flooder part-way, so later sends may fail: that is expected.
            for n in 0..<200 {
                try? await flooder.send(raw: #"{"type":"send_message","id":\#(n),"payload":{"room":"f","message":"spam \#(n)"}}"#)
            }
            var acked: [Int] = []
            var limited = 0
            while true {
                let event = try await flooder.socket.next()
                guard case .text(let text) = event else {
                    #expect(event == .close(code: 4029, reason: "rate limit exceeded"))
                    break
                }
                let object = try #require(try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any])
                if object["type"] as? String == "ack" { acked.append(payload(object)["seq"] as? Int ?? -1) }
                if errorCode(object) == "rate_limited" { limited += 1 }
            }
            #expect(limited > 0)
            #expect(!acked.isEmpty && acked.count < 200)
            // Every acknowledged message reached the bystander, in order.
            for seq in acked.sorted() {
                #expect(payload(try await bystander.next("new_message"))["seq"] as? Int == seq)
            }
            #expect(try await bystander.request("send_message", ["room": "f", "message": "still here"])["type"] as? String == "ack")
        }
    }

    @Test("a single frame over 64 KiB is refused by the frame parser with 1009 (the production path: echo off)")
    func oversizedFrame() async throws {
        try await ChatTestServer.run { server in
            let client = try await server.connect("big")
            try await client.socket.sendFrame(opcode: 0x1, payload: Array(repeating: UInt8(ascii: "a"), count: 64 * 1024 + 1))
            #expect(try await client.socket.nextClose() == 1009)
            try await client.socket.waitForDisconnect()
            try await eventually("removal") { server.server.hub.connectionCount == 0 }
        }
    }

    @Test("failed logins from one address are limited with 429")
    func loginLimit() async throws {
        try await ChatTestServer.run({ $0.loginLimits.failureBurst = 5; $0.loginLimits.failuresPerSecond = 0.01 }) { (server: ChatTestServer) async throws in
            for _ in 0..<5 {
                #expect(try await server.http("POST", "/login", body: #"{"username":"bad name"}"#).status == 401)
            }
            #expect(try await server.http("POST", "/login", body: #"{"username":"bad name"}"#).status == 429)
            #expect(try await server.http("POST", "/login", body: #"{"username":"good"}"#).status == 429)
        }
    }

    @Test("a slowloris dribbling its upgrade request is cut off at the handshake timeout")
    func slowloris() async throws {
        try await ChatTestServer.run({ $0.connection.handshakeTimeout = .milliseconds(500) }) { server in
            let loris = try await RawTCPClient.connect(port: server.port)
            for line in ["GET /ws?ticket=x HTTP/1.1\r\n", "Host: 127.0.0.1\r\n", "Upgrade: websocket\r\n", "X-Slow: 1\r\n"] {
                if loris.isClosed { break }
                try? await loris.send(line)
                try await Task.sleep(for: .milliseconds(200))
            }
            try await eventually("the slowloris to be dropped", timeout: .seconds(5)) { loris.isClosed }
            #expect(try await server.http("GET", "/healthz").status == 200)
        }
    }

    @Test("a request body trickling in one byte at a time is cut off at the request timeout")
    func tricklingBody() async throws {
        try await ChatTestServer.run({ $0.requestTimeout = .seconds(1) }) { server in
            let trickler = try await RawTCPClient.connect(port: server.port)
            try await trickler.send("POST /login HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n")
            let start = ContinuousClock.now
            while !trickler.isClosed, ContinuousClock.now - start < .seconds(6) {
                try? await trickler.send("{")
                try await Task.sleep(for: .milliseconds(200))
            }
            #expect(trickler.isClosed, "a trickling request body kept its connection for 6 s")
            #expect(ContinuousClock.now - start < .seconds(4))
            #expect(try await server.http("GET", "/healthz").status == 200)
        }
    }

    @Test("--max-connections: the upgrade past the limit gets 503; a closed connection frees its slot")
    func maxConnections() async throws {
        try await ChatTestServer.run({ $0.connectionLimits.maxConnections = 3 }) { server in
            var clients: [ChatClient] = []
            for n in 0..<3 { clients.append(try await server.connect("full\(n)")) }
            let ticket = try await server.ticket(for: "one-too-many")
            #expect(try await TestWebSocketClient.upgradeStatus(port: server.port, path: "/ws?ticket=\(ticket)") == 503)
            await clients.removeFirst().close()
            // The refused upgrade did not use its ticket up.
            try await eventually("a slot to free up") {
                try await TestWebSocketClient.upgradeStatus(port: server.port, path: "/ws?ticket=\(ticket)") == 101
            }
            for client in clients { await client.close() }
        }
    }

    @Test("--max-connections-per-address: one address past its share gets 429, others are unaffected")
    func maxConnectionsPerAddress() async throws {
        try await ChatTestServer.run({
            $0.connectionLimits.maxConnectionsPerAddress = 2
            $0.connectionLimits.exemptLoopback = false
        }) { server in
            let first = try await server.connect("hog1")
            let second = try await server.connect("hog2")
            let ticket = try await server.ticket(for: "hog3")
            #expect(try await TestWebSocketClient.upgradeStatus(port: server.port, path: "/ws?ticket=\(ticket)") == 429)
            await first.close()
            try await eventually("the address's slot to free up") {
                try await TestWebSocketClient.upgradeStatus(port: server.port, path: "/ws?ticket=\(ticket)") == 101
            }
            await second.close()
            let metrics = try await server.http("GET", "/metrics").body
            #expect(metrics.contains(#"switchboard_connections_refused_total{reason="max_connections_per_address"}"#))
        }
    }

    @Test("thousands of half-open handshakes do not stop the server serving others, and are closed")
    func halfOpenHandshakes() async throws {
        // Long enough for the healthy client's own handshake on a slow (sanitized) build.
        try await ChatTestServer.run({ $0.connection.handshakeTimeout = .seconds(5) }) { server in
            var opened: [RawTCPClient] = []
            for _ in 0..<2000 { opened.append(try await RawTCPClient.connect(port: server.port)) }
            let idle = opened
            let alice = try await server.connect("alice")
            try await alice.request("join_room", ["room": "busy"])
            #expect(try await alice.request("send_message", ["room": "busy", "message": "hi"])["type"] as? String == "ack")
            try await eventually("the half-open connections to be closed", timeout: .seconds(40)) {
                idle.allSatisfy(\.isClosed)
            }
            await alice.close()
        }
    }

    @Test("close codes 3000–3199 chosen by clients add no metric series; they count as other")
    func clientChosenCloseCodes() async throws {
        try await ChatTestServer.run { server in
            // Ten lanes of twenty, so a slow (sanitized) build does not take minutes.
            try await withThrowingTaskGroup(of: Void.self) { lanes in
                for lane in UInt16(0)..<10 {
                    lanes.addTask {
                        for code in stride(from: 3000 + lane, to: 3200, by: 10) {
                            let client = try await server.connect("closer\(code)")
                            try await client.socket.sendClose(code: code)
                            _ = try await client.socket.nextClose()
                            await client.close()
                        }
                    }
                }
                try await lanes.waitForAll()
            }
            try await eventually("every close to be counted") { server.server.hub.connectionCount == 0 }
            let metrics = try await server.http("GET", "/metrics").body
            let closeSeries = metrics.split(separator: "\n").filter { $0.hasPrefix("switchboard_connections_closed_total{") }
            let clientCodes = closeSeries.filter { $0.contains("code=\"3") }
            #expect(clientCodes.isEmpty, "client-chosen codes became labels: \(clientCodes)")
            let other = closeSeries.filter { $0.contains("code=\"other\"") }
            #expect(other.count == 1, "\(closeSeries)")
            #expect(closeSeries.count <= 13, "\(closeSeries)")
        }
    }

    @Test("abrupt disconnects mid-traffic lose nothing acknowledged for the others")
    func abruptDisconnects() async throws {
        try await ChatTestServer.run { server in
            let reader = try await server.connect("reader")
            try await reader.request("join_room", ["room": "a"])
            let writer = try await server.connect("writer")
            try await writer.request("join_room", ["room": "a"])
            for round in 0..<20 {
                let victim = try await server.connect("victim\(round)")
                try await victim.request("join_room", ["room": "a"])
                await victim.socket.abort()
                try await writer.request("send_message", ["room": "a", "message": "m\(round)"])
            }
            for seq in 1...20 {
                #expect(payload(try await reader.next("new_message"))["seq"] as? Int == seq)
            }
            try await eventually("the victims' removal") { server.server.hub.connectionCount == 2 }
        }
    }
}
