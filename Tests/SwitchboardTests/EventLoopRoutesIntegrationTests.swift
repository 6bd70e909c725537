import Foundation
import Hummingbird
import NIOCore
import Switchboard
import SwitchboardTestSupport
import Testing

/// `EventLoopRoutes` over real loopback connections: a route answers on the event loop in
/// place of the router; anything it cannot or will not answer reaches the router; responses
/// keep their requests' order.
@Suite("Event-loop routes")
struct EventLoopRoutesIntegrationTests {
    /// `/answer` has both an event-loop route and a router route, which answer with their
    /// names; the event-loop route declines a body of "decline". `/slow` is the router's
    /// alone and takes 300 ms.
    static func run(_ body: @Sendable (LibraryTestServer) async throws -> Void) async throws {
        var configuration = SwitchboardServerConfiguration()
        configuration.eventLoopRoutes.add(.post, "/answer", maxBodySize: 64) { _, body, _ in
            if String(buffer: body) == "decline" { return nil }
            return .init(status: .ok, headerFields: [.contentType: "text/plain"], body: ByteBuffer(string: "event loop:\(String(buffer: body))"))
        }
        let http = Router()
        http.post("/answer") { request, _ -> String in
            let body = try await request.body.collect(upTo: 1 << 20)
            return "router:\(body.readableBytes)"
        }
        http.get("/slow") { _, _ -> String in
            try await Task.sleep(for: .milliseconds(300))
            return "slow"
        }
        try await LibraryTestServer.run(configuration: configuration, http: http, body)
    }

    @Test("a routed request is answered on the event loop, with Content-Length and Date; a declined one and one over the body limit reach the router")
    func routedDeclinedAndOversize() async throws {
        try await Self.run { server in
            let routed = try await TestHTTPClient.request("POST", port: server.port, path: "/answer?ignored=1", body: "hello")
            #expect(routed.status == 200)
            #expect(routed.body == "event loop:hello")
            #expect(routed.header("Content-Length") == "16")
            #expect(routed.header("Date")?.hasSuffix(" GMT") == true)
            #expect(routed.header("Connection") == "close")

            let declined = try await TestHTTPClient.request("POST", port: server.port, path: "/answer", body: "decline")
            #expect(declined.body == "router:7")
            let oversize = try await TestHTTPClient.request("POST", port: server.port, path: "/answer", body: String(repeating: "x", count: 65))
            #expect(oversize.body == "router:65")
            let otherMethod = try await TestHTTPClient.request("PUT", port: server.port, path: "/answer", body: "x")
            #expect(otherMethod.status == 404 || otherMethod.status == 405)
            let expecting = try await TestHTTPClient.request(
                "POST", port: server.port, path: "/answer", headers: [("Expect", "100-continue")], body: "x"
            )
            #expect(expecting.body == "router:1")
        }
    }

    @Test("pipelined requests are answered in order: a routed request behind one the router is still answering waits for it")
    func pipelinedOrder() async throws {
        try await Self.run { server in
            let exchange = try await TestHTTPClient.exchange(
                port: server.port,
                raw: "GET /slow HTTP/1.1\r\nHost: t\r\n\r\n"
                    + "POST /answer HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\n\r\nfirst"
                    + "POST /answer HTTP/1.1\r\nHost: t\r\nContent-Length: 6\r\nConnection: close\r\n\r\nsecond"
            )
            let slow = try #require(exchange.range(of: "slow"))
            let first = try #require(exchange.range(of: "router:5"))
            let second = try #require(exchange.range(of: "router:6"))
            #expect(slow.lowerBound < first.lowerBound && first.lowerBound < second.lowerBound, "\(exchange)")
            // Once the router has answered, the connection's next routed request is the event loop's again.
            let later = try await TestHTTPClient.exchange(
                port: server.port,
                raw: "POST /answer HTTP/1.1\r\nHost: t\r\nContent-Length: 1\r\n\r\na"
                    + "GET /slow HTTP/1.1\r\nHost: t\r\n\r\n"
                    + "POST /answer HTTP/1.1\r\nHost: t\r\nContent-Length: 1\r\nConnection: close\r\n\r\nb"
            )
            let a = try #require(later.range(of: "event loop:a"))
            let slowAgain = try #require(later.range(of: "slow"))
            let b = try #require(later.range(of: "router:1"))
            #expect(a.lowerBound < slowAgain.lowerBound && slowAgain.lowerBound < b.lowerBound, "\(later)")
        }
    }

    @Test("routed requests count as activity for the idle timeout: a connection busy with them stays open past it, and is closed once idle")
    func keepAliveAndIdleTimeout() async throws {
        var configuration = SwitchboardServerConfiguration()
        configuration.http1 = .init(idleTimeout: .seconds(2))
        configuration.eventLoopRoutes.add(.post, "/answer") { _, body, _ in
            .init(status: .ok, body: ByteBuffer(string: "event loop:\(String(buffer: body))"))
        }
        try await LibraryTestServer.run(configuration: configuration) { server in
            let client = try await RawTCPClient.connect(port: server.port)
            // 4 s of requests 100 ms apart: twice the idle timeout, with room for a loaded machine.
            for n in 0..<40 {
                try await client.send("POST /answer HTTP/1.1\r\nHost: t\r\nContent-Length: \(String(n).count)\r\n\r\n\(n)")
                try await Task.sleep(for: .milliseconds(100))
            }
            #expect(!client.isClosed, "closed while busy, 4 s into a 2 s idle timeout")
            let idleSince = ContinuousClock.now
            while !client.isClosed, ContinuousClock.now - idleSince < .seconds(10) {
                try await Task.sleep(for: .milliseconds(100))
            }
            #expect(client.isClosed)
            await client.close()
        }
    }
}
