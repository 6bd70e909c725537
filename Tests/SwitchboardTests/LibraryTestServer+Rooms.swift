import Foundation
import NIOCore
import SwitchboardTestSupport
@testable import Switchboard

extension LibraryTestServer {
    /// Connects `count` users (`u0`, `u1`, …) and joins each to `room`, waiting for the acks.
    func joinedClients(_ count: Int, room: String) async throws -> [TestWebSocketClient] {
        var clients: [TestWebSocketClient] = []
        for index in 0..<count {
            let client = try await connect("u\(index)")
            try await client.send(text: #"{"type":"join","payload":{"room":"\#(room)"},"id":1}"#)
            _ = try await client.nextEvent(ofType: "ack")
            clients.append(client)
        }
        return clients
    }

    /// Broadcast runs (several broadcasts written as one write per member) so far.
    var combinedRuns: Int { hub.outboxes.map(\.combinedRuns).reduce(0, +) }

    /// Holds every event loop of the hub while `body` runs, so that everything `body`
    /// enqueues meets in one outbox pass.
    func holdingLoops(_ body: () -> Void) {
        let outboxes = hub.outboxes
        let gate = DispatchSemaphore(value: 0)
        for outbox in outboxes { outbox.eventLoop.execute { gate.wait() } }
        body()
        for _ in outboxes { gate.signal() }
    }
}
