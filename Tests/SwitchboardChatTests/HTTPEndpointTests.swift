import NIOConcurrencyHelpers
import NIOCore
import ServiceLifecycle
import Switchboard
import Foundation
@testable import SwitchboardChat
import SwitchboardTestSupport
import Testing

@Suite("HTTP endpoints")
struct HTTPEndpointTests {
    @Test("POST /login answers ticket, expires_in and user; 401 for an invalid name; 400 for a malformed body")
    func login() async throws {
        try await ChatTestServer.run { server in
            let ok = try await server.http("POST", "/login", body: #"{"username":"alice","password":"x"}"#)
            #expect(ok.status == 200)
            let body = try #require(try JSONSerialization.jsonObject(with: Data(ok.body.utf8)) as? [String: Any])
            #expect(body["user"] as? String == "alice")
            #expect(body["expires_in"] as? Int == 30)
            let ticket = try #require(body["ticket"] as? String)
            #expect(ticket.count >= 32)  // 128 bits, hex

            let noPassword = try await server.http("POST", "/login", body: #"{"username":"bob"}"#)
            #expect(noPassword.status == 200)
            let invalid = try await server.http("POST", "/login", body: #"{"username":"no spaces allowed"}"#)
            #expect(invalid.status == 401)
            #expect(invalid.body.contains("error"))
            let tooLong = try await server.http("POST", "/login", body: #"{"username":"\#(String(repeating: "a", count: 33))"}"#)
            #expect(tooLong.status == 401)
            let malformed = try await server.http("POST", "/login", body: "{not json")
            #expect(malformed.status == 400)
            let wrongType = try await server.http("POST", "/login", body: #"{"username":5}"#)
            #expect(wrongType.status == 400)
        }
    }

    @Test("tickets are distinct across many logins")
    func ticketsAreUnique() async throws {
        let store = TicketStore()
        let tickets = Set((0..<10_000).map { _ in store.issue(for: "u") })
        #expect(tickets.count == 10_000)
    }

    @Test("the page and its files come with CSP (frame-ancestors 'none', no inline script), nosniff and X-Frame-Options DENY")
    func securityHeaders() async throws {
        try await ChatTestServer.run { server in
            for path in ["/", "/app.js", "/style.css"] {
                let response = try await server.http("GET", path)
                #expect(response.status == 200, "\(path)")
                let policy = response.header("Content-Security-Policy") ?? ""
                #expect(policy.contains("frame-ancestors 'none'"), "\(path): \(policy)")
                #expect(policy.contains("script-src 'self'") && !policy.contains("unsafe-inline"), "\(path): \(policy)")
                #expect(response.header("X-Content-Type-Options") == "nosniff", "\(path)")
                #expect(response.header("X-Frame-Options") == "DENY", "\(path)")
            }
            // The policy forbids inline script and style, so the page must have none.
            let page = try await server.http("GET", "/").body
            #expect(!page.contains("<script>") && !page.contains("<style") && !page.contains("style=\""))
            let inlineHandler = page.range(of: #"\son[a-z]+="#, options: .regularExpression)
            #expect(inlineHandler == nil, "inline event handler in the page")
        }
    }

    @Test("a login is answered with the same headers whether the event loop answers it (guest, tickets in memory) or the router does (a body over 16 KiB)")
    func loginHeadersOnBothPaths() async throws {
        try await ChatTestServer.run { server in
            let immediate = try await server.http("POST", "/login", body: #"{"username":"alice"}"#)
            let padded = #"{"username":"alice","padding":"\#(String(repeating: "x", count: 17 * 1024))"}"#
            let routed = try await server.http("POST", "/login", body: padded)
            #expect(immediate.status == 200)
            #expect(routed.status == 413)
            for response in [immediate, routed] {
                #expect(response.header("Content-Type") == "application/json")
                #expect(response.header("Content-Security-Policy")?.contains("frame-ancestors 'none'") == true)
                #expect(response.header("X-Content-Type-Options") == "nosniff")
                #expect(response.header("X-Frame-Options") == "DENY")
                #expect(response.header("Date")?.hasSuffix(" GMT") == true)
            }
            #expect(immediate.header("Cache-Control") == "no-store")
        }
    }

    @Test("/healthz is 200 while serving; / serves the page; /metrics is Prometheus text")
    func healthPageMetrics() async throws {
        try await ChatTestServer.run { server in
            #expect(try await server.http("GET", "/healthz").status == 200)
            let page = try await server.http("GET", "/")
            #expect(page.status == 200)
            #expect(page.body.contains("<html") || page.body.contains("<!doctype") || page.body.contains("<!DOCTYPE"))
            let client = try await server.connect("metrics-user")
            try await client.request("join_room", ["room": "m"])
            try await client.request("send_message", ["room": "m", "message": "hi"])
            let metrics = try await server.http("GET", "/metrics")
            #expect(metrics.status == 200)
            #expect(metrics.body.contains("switchboard_connections"))
            #expect(metrics.body.contains("switchboard_messages_out_total"))
            #expect(metrics.body.contains("switchboard_events_in_total"))
            // Its value is not checked: every test's hub records into the one process-wide
            // registry (a server process has one hub; the soak checks the value there).
            #expect(metrics.body.split(separator: "\n").contains { $0.hasPrefix("switchboard_rooms ") })
            await client.close()
        }
    }
}

@Suite("WebSocket upgrade: tickets and origins")
struct UpgradeTests {
    @Test("missing, unknown, reused and expired tickets get 401")
    func tickets() async throws {
        // Long enough that a slow machine (ThreadSanitizer, a busy CI) still redeems the fresh
        // tickets in time; the expired one waits past it.
        try await ChatTestServer.run({ $0.ticketLifetime = .seconds(3) }) { server in
            #expect(try await TestWebSocketClient.upgradeStatus(port: server.port, path: "/ws") == 401, "missing ticket accepted")
            #expect(try await TestWebSocketClient.upgradeStatus(port: server.port, path: "/ws?ticket=deadbeef") == 401, "unknown ticket accepted")
            let ticket = try await server.ticket(for: "once")
            let first = try await TestWebSocketClient.connect(port: server.port, path: "/ws?ticket=\(ticket)")
            #expect(try await TestWebSocketClient.upgradeStatus(port: server.port, path: "/ws?ticket=\(ticket)") == 401, "reused ticket accepted")
            let stale = try await server.ticket(for: "late")
            try await Task.sleep(for: .milliseconds(3500))
            #expect(try await TestWebSocketClient.upgradeStatus(port: server.port, path: "/ws?ticket=\(stale)") == 401, "expired ticket accepted")
            await first.close()
        }
    }

    @Test("a percent-encoded ticket, among other query parameters, is decoded before it is redeemed")
    func percentEncodedTicket() async throws {
        try await ChatTestServer.run { server in
            let ticket = try await server.ticket(for: "encoded")
            // Every byte encoded, as a client's URL library may do.
            let encoded = ticket.utf8.map { "%" + String($0, radix: 16, uppercase: true) }.joined()
            let socket = try await TestWebSocketClient.connect(port: server.port, path: "/ws?lang=en&ticket=\(encoded)&x")
            let client = ChatClient(socket: socket, user: "encoded")
            let ack = try await client.request("join_room", ["room": "decoded"])
            #expect(payload(ack)["members"] as? [String] == ["encoded"])
            await client.close()
        }
    }

    @Test("one ticket used by 20 concurrent upgrades succeeds exactly once")
    func concurrentTicketUse() async throws {
        try await ChatTestServer.run { server in
            let ticket = try await server.ticket(for: "race")
            let results = await withTaskGroup(of: Int.self) { group -> [Int] in
                for _ in 0..<20 {
                    group.addTask {
                        (try? await TestWebSocketClient.upgradeStatus(port: server.port, path: "/ws?ticket=\(ticket)")) ?? -1
                    }
                }
                return await group.reduce(into: []) { $0.append($1) }
            }
            #expect(results.filter { $0 == 101 }.count == 1)
            #expect(results.filter { $0 == 401 }.count == 19)
        }
    }

    @Test("a foreign Origin gets 403; the server's own origin and no Origin are allowed")
    func defaultOrigins() async throws {
        try await ChatTestServer.run { server in
            let foreign = try await server.ticket(for: "o1")
            #expect(try await TestWebSocketClient.upgradeStatus(port: server.port, path: "/ws?ticket=\(foreign)", headers: [("Origin", "http://evil.example")]) == 403, "foreign origin accepted")
            let own = try await server.connect("o2", headers: [("Origin", "http://127.0.0.1:\(server.port)")])
            let none = try await server.connect("o3")
            await own.close()
            await none.close()
        }
    }

    @Test("DNS rebinding: Host and Origin both naming a foreign domain get 403 (origins come from configuration, not Host)")
    func dnsRebinding() async throws {
        try await ChatTestServer.run { server in
            let ticket = try await server.ticket(for: "rebound")
            let status = try await TestWebSocketClient.upgradeStatus(
                port: server.port, path: "/ws?ticket=\(ticket)",
                headers: [("Origin", "http://evil.test:\(server.port)")], hostHeader: "evil.test:\(server.port)"
            )
            #expect(status == 403, "a rebound page's origin was accepted")
            // localhost names the same loopback server, whatever Host the browser sends.
            let local = try await server.connect("local", headers: [("Origin", "http://LOCALHOST:\(server.port)/")])
            await local.close()
        }
    }

    @Test("--public-url: its origin is allowed, written with or without its default port")
    func publicURLOrigin() async throws {
        try await ChatTestServer.run({ $0.publicURL = "https://Chat.Example.com/app/" }) { server in
            let bare = try await server.connect("pub1", headers: [("Origin", "https://chat.example.com")])
            await bare.close()
            let explicitPort = try await server.connect("pub2", headers: [("Origin", "https://chat.example.com:443")])
            await explicitPort.close()
            let ticket = try await server.ticket(for: "pub3")
            #expect(try await TestWebSocketClient.upgradeStatus(port: server.port, path: "/ws?ticket=\(ticket)", headers: [("Origin", "http://chat.example.com")]) == 403, "another scheme of the public URL accepted")
        }
    }

    @Test("configured allowed origins replace the default")
    func configuredOrigins() async throws {
        try await ChatTestServer.run({ $0.allowedOrigins = ["https://chat.example.com"] }) { server in
            let allowed = try await server.connect("p1", headers: [("Origin", "https://chat.example.com")])
            await allowed.close()
            let ticket = try await server.ticket(for: "p2")
            #expect(try await TestWebSocketClient.upgradeStatus(port: server.port, path: "/ws?ticket=\(ticket)", headers: [("Origin", "http://127.0.0.1:\(server.port)")]) == 403, "origin outside the configured list accepted")
        }
    }

    @Test("the echo endpoint is off by default")
    func echoOffByDefault() async throws {
        try await ChatTestServer.run { (server: ChatTestServer) async throws in
            #expect(try await TestWebSocketClient.upgradeStatus(port: server.port, path: "/echo") == 404, "echo endpoint reachable by default")
        }
    }

    @Test("with the echo endpoint on, /ws keeps its own 64 KiB frame limit and origin check; echo checks origins too")
    func echoKeepsLimitsApart() async throws {
        try await ChatTestServer.run({ $0.echoPath = "/echo" }) { server in
            let client = try await server.connect("big")
            // A frame announcing 1 MiB: refused at its header, not buffered up to echo's 16 MiB.
            var header: [UInt8] = [0x81, 0x80 | 127] + (0..<8).reversed().map { UInt8(((1 << 20) >> ($0 * 8)) & 0xFF) }
            header += [1, 2, 3, 4] + Array(repeating: UInt8(ascii: "a"), count: 100)
            try await client.socket.sendRaw(header)
            #expect(try await client.socket.nextClose(timeout: .seconds(5)) == 1009)
            let ticket = try await server.ticket(for: "foreign")
            let foreign = [("Origin", "http://evil.example")]
            #expect(try await TestWebSocketClient.upgradeStatus(port: server.port, path: "/ws?ticket=\(ticket)", headers: foreign) == 403)
            #expect(try await TestWebSocketClient.upgradeStatus(port: server.port, path: "/echo", headers: foreign) == 403)
        }
        await #expect(throws: ConfigurationError.self) {
            var configuration = ChatConfiguration()
            configuration.echoPath = "/ws"
            _ = try await ChatServer(configuration: configuration)
        }
    }

    @Test("the echo endpoint, when enabled, echoes text and binary through the same stack")
    func echoEnabled() async throws {
        try await ChatTestServer.run({ $0.echoPath = "/echo" }) { server in
            let client = try await TestWebSocketClient.connect(port: server.port, path: "/echo")
            try await client.send(text: "héllo")
            #expect(try await client.next() == .text("héllo"))
            try await client.send(binary: [0, 255, 7])
            #expect(try await client.next() == .binary([0, 255, 7]))
            await client.close()
        }
    }
}

@Suite("Graceful shutdown")
struct GracefulShutdownTests {
    @Test("a server that made its own event-loop group shuts it down when it stops")
    func ownEventLoopGroupIsShutDown() async throws {
        // One thread more than the machine has, so the server cannot use NIO's shared group.
        let threads = ProcessInfo.processInfo.activeProcessorCount + 1
        let loopThreads = NIOLockedValueBox<Set<String>>([])
        try await ChatTestServer.run({ $0.eventLoopThreads = threads }) { server in
            try #require(server.server.ownsEventLoopGroup)
            for loop in server.server.eventLoopGroup.makeIterator() {
                // NIO names each loop's thread after its group and index: unique in the process.
                let name = try await loop.submit { Self.threadNames(at: "/proc/thread-self/comm") }.get()
                loopThreads.withLockedValue { $0.formUnion(name) }
            }
            #expect(try await server.http("GET", "/healthz").status == 200)
        }
        let names = loopThreads.withLockedValue { $0 }
        #expect(names.count == threads)
        let running = Set(try FileManager.default.contentsOfDirectory(atPath: "/proc/self/task").flatMap {
            Self.threadNames(at: "/proc/self/task/\($0)/comm")
        })
        #expect(running.isDisjoint(with: names), "event-loop threads still running after the server stopped")
    }

    private static func threadNames(at path: String) -> [String] {
        ((try? String(contentsOfFile: path, encoding: .utf8)) ?? "").split(separator: "\n").map(String.init)
    }

    @Test("shutdown: /healthz turns 503, new upgrades are refused, every client gets 1001 after its queued messages")
    func drain() async throws {
        // The close timeout is far longer than the drain deadline, so the stubborn peer can only
        // be dropped by the deadline.
        try await ChatTestServer.run({ $0.drainTimeout = .seconds(2); $0.connection.closeTimeout = .seconds(60) }) { server in
            let polite = try await server.connect("polite")
            try await polite.request("join_room", ["room": "d"])
            // A peer that will not answer the close handshake keeps the drain going.
            let stubborn = try await server.connect("stubborn", autoPong: false)
            try await stubborn.request("join_room", ["room": "d"])
            for n in 1...20 { try await polite.request("send_message", ["room": "d", "message": "m\(n)"]) }
            // Logged in before the drain; its upgrade comes during it.
            let ticket = try await server.ticket(for: "late")
            try await stubborn.socket.freeze()
            let draining = Task { await server.group.triggerGracefulShutdown() }
            for n in 1...20 {
                try #require(payload(try await polite.next("new_message"))["seq"] as? Int == n)
            }
            #expect(try await polite.socket.nextClose() == 1001)
            try await eventually("draining") { server.server.state.isDraining }
            #expect(try await server.http("GET", "/healthz").status == 503)
            // A ticket issued now could only be refused by /ws.
            #expect(try await server.http("POST", "/login", body: #"{"username":"later"}"#).status == 503)
            #expect(try await TestWebSocketClient.upgradeStatus(port: server.port, path: "/ws?ticket=\(ticket)") == 503, "upgrade accepted while draining")
            await draining.value
            // The stubborn peer never answers: it is dropped at the drain deadline.
            try await eventually("the drain deadline", timeout: .seconds(20)) { server.server.hub.openTransportCount == 0 }
            try await stubborn.socket.waitForDisconnect()
        }
    }
}
