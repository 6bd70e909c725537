import NIOConcurrencyHelpers
import NIOCore
import SwitchboardTestSupport
import Testing

@testable import Switchboard

/// A connection whose event handlers fall behind stops being read (its sender slows down),
/// instead of buffering without bound; once they catch up, reading resumes and every event
/// is handled, in order.
@Suite("Inbound backpressure (integration)")
struct InboundBackpressureIntegrationTests {
    @Test("with the handlers stalled the server stops reading at the high watermark, then handles all 3,000 events in order")
    func pausesAndResumes() async throws {
        let gate = AsyncStream<Void>.makeStream()
        let stalled = NIOLockedValueBox<Connection?>(nil)
        let handled = NIOLockedValueBox<[Int]>([])
        var router = EventRouter()
        router.on("stall", as: [String: Int].self, replying: { _, context in
            stalled.withLockedValue { $0 = context.connection }
            for await _ in gate.stream { break }
            return .replied
        })
        router.on("n", as: [String: Int].self, replying: { payload, _ in
            handled.withLockedValue { $0.append(payload["n"] ?? -1) }
            return .replied
        })
        var configuration = SwitchboardServerConfiguration()
        configuration.connection.rateLimit = nil
        configuration.connection.inboundBufferedMessages = 64
        try await LibraryTestServer.run(configuration: configuration, router: router) { server in
            let client = try await server.connect("flooder")
            var burst: [UInt8] = TestWebSocketClient.encodeFrame(opcode: 0x1, payload: Array(#"{"type":"stall"}"#.utf8))
            for n in 1...3000 {
                burst += TestWebSocketClient.encodeFrame(opcode: 0x1, payload: Array(#"{"type":"n","payload":{"n":\#(n)}}"#.utf8))
            }
            try await client.sendRaw(burst)
            try await eventually("the stalled handler") { stalled.withLockedValue { $0 } != nil }
            let connection = try #require(stalled.withLockedValue { $0 })
            @Sendable func serverSide() async throws -> (backlog: Int, paused: Bool) {
                try await connection.eventLoop.submit {
                    guard let handler = connection.handler?.onLoop else { return (0, false) }
                    return (handler.inboxBacklog, handler.isReadingPaused)
                }.get()
            }
            try await eventually("reading paused") { try await serverSide().paused }
            // Reading stays paused: the backlog stops at the watermark plus what one read
            // had already brought in, far below the 3,000 sent.
            try await Task.sleep(for: .milliseconds(300))
            let (backlog, paused) = try await serverSide()
            #expect(paused)
            #expect(backlog >= 64 && backlog < 400, "backlog \(backlog)")
            #expect(handled.withLockedValue { $0 }.isEmpty)
            gate.continuation.yield()
            try await eventually("every event handled", timeout: .seconds(30)) { handled.withLockedValue { $0.count } == 3000 }
            #expect(handled.withLockedValue { $0 } == Array(1...3000))
            #expect(try await serverSide().paused == false)
        }
    }
}
