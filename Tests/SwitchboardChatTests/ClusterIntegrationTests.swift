import Foundation
import PostgresNIO
import Switchboard
import SwitchboardChat
import SwitchboardPostgres
import SwitchboardTestSupport
import Testing

/// Two chat servers on one PostgreSQL database, in this process, with real WebSocket
/// clients: the cluster's rules end to end. (Three server processes, kill -9 and database
/// restarts are in tests/cluster.)
@Suite("Cluster of two nodes", .enabled(if: TestDatabase.isConfigured), .serialized)
struct ClusterIntegrationTests {
    /// Runs two nodes, `a` and `b`, on a fresh database.
    static func withTwoNodes(
        configure: @escaping @Sendable (inout ChatConfiguration) -> Void = { _ in },
        _ body: @Sendable (ChatTestServer, ChatTestServer) async throws -> Void
    ) async throws {
        let url = try await TestDatabase.create()
        try await ChatTestServer.run({ configuration in
            configuration.postgres = PostgresCluster.Configuration(url: url, nodeName: "a")
            configure(&configuration)
        }) { a in
            try await ChatTestServer.run({ configuration in
                configuration.postgres = PostgresCluster.Configuration(url: url, nodeName: "b")
                configure(&configuration)
            }) { b in
                try await body(a, b)
            }
        }
    }

    @Test("a message sent on one node reaches members on the other in seq order, and the ack comes after it is stored")
    func messagesCrossNodes() async throws {
        try await Self.withTwoNodes { a, b in
            let ann = try await a.connect("ann")
            let bob = try await b.connect("bob")
            _ = try await ann.request("join_room", ["room": "lobby"])
            let joined = try await bob.request("join_room", ["room": "lobby"])
            #expect(payload(joined)["members"] as? [String] == ["ann", "bob"])
            for index in 1...5 {
                let ack = try await (index.isMultiple(of: 2) ? bob : ann).request("send_message", ["room": "lobby", "message": "m\(index)"])
                #expect(payload(ack)["seq"] as? Int == index)
            }
            for client in [ann, bob] {
                var seqs: [Int] = []
                for _ in 1...5 { seqs.append(payload(try await client.next("new_message"))["seq"] as? Int ?? -1) }
                #expect(seqs == [1, 2, 3, 4, 5])
            }
            // The other node's history is the same stream.
            let history = try await ann.request("history", ["room": "lobby", "since": 3])
            #expect((payload(history)["messages"] as? [[String: Any]])?.map { $0["seq"] as? Int } == [4, 5])
        }
    }

    /// Waits (up to 5 s) until `user` has a presence row in `room` on `count` nodes.
    static func waitForPresenceRows(room: String, user: String, count: Int, on node: ChatTestServer) async throws {
        let client = try #require(node.server.cluster).database.client
        let deadline = ContinuousClock.now + .seconds(5)
        while true {
            let rows = try await client.query(
                "SELECT count(*) FROM switchboard_presence WHERE room = \(room) AND username = \(user)"
            ).decode(Int.self).reduce(0) { $0 + $1 }
            if rows == count { return }
            try #require(ContinuousClock.now < deadline, "\(user) in \(room) on \(rows) nodes, not \(count)")
            try await Task.sleep(for: .milliseconds(20))
        }
    }

    @Test("presence is cluster-wide: user_joined and user_left cross nodes once, and a user on two nodes is one member")
    func presenceAcrossNodes() async throws {
        try await Self.withTwoNodes { a, b in
            let ann = try await a.connect("ann")
            _ = try await ann.request("join_room", ["room": "p"])
            let bobOnB = try await b.connect("bob")
            _ = try await bobOnB.request("join_room", ["room": "p"])
            #expect(payload(try await ann.next("user_joined"))["user"] as? String == "bob")
            // bob's second connection, on the other node: not a new member.
            let bobOnA = try await a.connect("bob")
            let second = try await bobOnA.request("join_room", ["room": "p"])
            #expect(payload(second)["members"] as? [String] == ["ann", "bob"])
            // Each node writes its presence rows after the fact (PostgresPresence's worker):
            // until node a has written bob's row, node b's removal would be his last row.
            try await Self.waitForPresenceRows(room: "p", user: "bob", count: 2, on: a)
            await bobOnB.close()
            // bob is still there on node a: nobody hears that he left.
            _ = try await ann.request("send_message", ["room": "p", "message": "still here?"])
            _ = try await ann.next("new_message")
            try await Task.sleep(for: .milliseconds(500))
            // A request's reply comes after whatever was sent before it, which it buffers.
            _ = try await ann.request("history", ["room": "p", "since": 0])
            #expect(!ann.pending.contains(type: "user_left"))
            _ = try await bobOnA.request("leave_room", ["room": "p"])
            #expect(payload(try await ann.next("user_left"))["user"] as? String == "bob")
        }
    }

    @Test("a ticket from one node opens a WebSocket on the other, once")
    func ticketFromOtherNode() async throws {
        try await Self.withTwoNodes { a, b in
            let ticket = try await a.ticket(for: "ann")
            let first = try await TestWebSocketClient.upgradeStatus(port: b.port, path: "/ws?ticket=\(ticket)")
            let second = try await TestWebSocketClient.upgradeStatus(port: a.port, path: "/ws?ticket=\(ticket)")
            #expect(first == 101)
            #expect(second == 401)
        }
    }

    @Test("a resend with the same idempotency_key on the other node gets the original seq and delivers nothing new")
    func idempotencyAcrossNodes() async throws {
        try await Self.withTwoNodes { a, b in
            let onA = try await a.connect("ann")
            let onB = try await b.connect("ann")
            _ = try await onA.request("join_room", ["room": "i"])
            _ = try await onB.request("join_room", ["room": "i"])
            let first = try await onA.request("send_message", ["room": "i", "message": "once", "idempotency_key": "key-1"])
            let resend = try await onB.request("send_message", ["room": "i", "message": "once", "idempotency_key": "key-1"])
            #expect(payload(first)["seq"] as? Int == 1)
            #expect(payload(resend)["seq"] as? Int == 1)
            let next = try await onB.request("send_message", ["room": "i", "message": "twice"])
            #expect(payload(next)["seq"] as? Int == 2)
            #expect(payload(try await onB.next("new_message"))["seq"] as? Int == 1)
            #expect(payload(try await onB.next("new_message"))["seq"] as? Int == 2)
        }
    }

    @Test("a node that can no longer deliver a room without a gap (what it missed was trimmed) closes the room's members with 1011 instead of stalling")
    func trimmedGapClosesMembers() async throws {
        let url = try await TestDatabase.create()
        try await ChatTestServer.run({ $0.postgres = PostgresCluster.Configuration(url: url, nodeName: "a") }) { a in
            let ann = try await a.connect("ann")
            _ = try await ann.request("join_room", ["room": "t"])
            // Ten messages too big for NOTIFY (so the node must fetch them), committed at once
            // by another writer with a retention of 3: only 8...10 are left to fetch.
            let big = String(repeating: "😀", count: 2100)
            try await TestDatabase.withCluster(url: url, nodeName: "writer") { writer in
                let count = 10
                let rows = try await writer.database.client.query("""
                    SELECT seq FROM switchboard_append('t', \(Array(repeating: "bob", count: count)), \(Array(repeating: big, count: count)),
                        \(Array(repeating: Date(), count: count)), \(Array(repeating: "", count: count)), 3)
                    """)
                for try await _ in rows {}
            }
            let code = try await ann.socket.nextClose(timeout: .seconds(10))
            #expect(code == 1011)
        }
    }
}
