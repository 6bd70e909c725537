import Foundation
import NIOConcurrencyHelpers
import SwitchboardChat
import SwitchboardTestSupport
import Testing

/// PROTOCOL v1.1 over real sockets: room epochs, idempotent resends, paged history and the
/// per-connection room cap.
@Suite("Protocol v1.1")
struct ProtocolV11Tests {
    @Test("a join with since 0 after 300 messages of 4,096 U+0001 is answered, not closed with 4008: the ack is bounded, more is true, and history pages bring the rest")
    func oversizedRecoveryIsPaged() async throws {
        try await ChatTestServer.run { server in
            let writer = try await server.connect("writer")
            try await writer.request("join_room", ["room": "big"])
            let text = String(repeating: "\u{0001}", count: 4096)
            for _ in 1...300 { try await writer.request("send_message", ["room": "big", "message": text]) }

            let reader = try await server.connect("reader")
            let ack = try await reader.request("join_room", ["room": "big", "since": 0])
            #expect(ack["type"] as? String == "ack", "got \(ack)")
            #expect(payload(ack)["more"] as? Bool == true)
            #expect(payload(ack)["recovered"] as? Bool == true)
            var seqs = try #require(payload(ack)["history"] as? [[String: Any]]).compactMap { $0["seq"] as? Int }
            #expect(!seqs.isEmpty && seqs.count < 300)
            var more = true
            while more, let last = seqs.last {
                let page = payload(try await reader.request("history", ["room": "big", "since": last, "limit": 100]))
                let messages = try #require(page["messages"] as? [[String: Any]])
                #expect(messages.allSatisfy { $0["message"] as? String == text })
                seqs += messages.compactMap { $0["seq"] as? Int }
                more = page["more"] as? Bool ?? false
            }
            #expect(seqs == Array(1...300))
            // Still connected, still a member: live messages follow.
            try await writer.request("send_message", ["room": "big", "message": "after"])
            #expect(payload(try await reader.next("new_message"))["seq"] as? Int == 301)
        }
    }

    @Test("history pages forward with since and backward with before, limit 1 to 100, without membership")
    func historyEvent() async throws {
        try await ChatTestServer.run { server in
            let writer = try await server.connect("writer")
            let epoch = try #require(payload(try await writer.request("join_room", ["room": "h"]))["epoch"] as? String)
            for n in 1...120 { try await writer.request("send_message", ["room": "h", "message": "m\(n)"]) }
            let outsider = try await server.connect("outsider")
            func page(_ request: [String: Any]) async throws -> ([Int], Bool) {
                let ack = try await outsider.request("history", request.merging(["room": "h"]) { a, _ in a })
                #expect(payload(ack)["epoch"] as? String == epoch && payload(ack)["room"] as? String == "h", "got \(ack)")
                let seqs = (payload(ack)["messages"] as? [[String: Any]] ?? []).compactMap { $0["seq"] as? Int }
                return (seqs, payload(ack)["more"] as? Bool ?? false)
            }
            #expect(try await page(["since": 0, "limit": 100]) == (Array(1...100), true))
            #expect(try await page(["since": 100, "limit": 100]) == (Array(101...120), false))
            #expect(try await page(["since": 110]) == (Array(111...120), false))
            #expect(try await page(["before": 121, "limit": 50]) == (Array(71...120), true))
            #expect(try await page(["before": 21]) == (Array(1...20), false))
            #expect(try await page(["before": 1]) == ([], false))
            #expect(try await page(["since": Int.max]) == ([], false))
            #expect(try await page(["before": Int.max, "limit": 1]) == ([120], true))
            #expect(payload(try await outsider.request("join_room", ["room": "h", "since": Int.max]))["recovered"] as? Bool == false)
            for bad: [String: Any] in [
                ["room": "h", "since": 0, "limit": 0], ["room": "h", "since": 0, "limit": 101], ["room": "h"],
                ["room": "h", "since": 1, "before": 5], ["room": "h", "since": -1], ["room": "bad room", "since": 0],
            ] {
                #expect(errorCode(try await outsider.request("history", bad)) == "bad_payload", "\(bad)")
            }
        }
    }

    @Test("a rejoin with since from another room life (epoch) gets recovered false and the latest history")
    func epochChangeAfterRestart() async throws {
        let oldEpoch = NIOLockedValueBox("")
        try await ChatTestServer.run { server in
            let client = try await server.connect("alice")
            let ack = payload(try await client.request("join_room", ["room": "e"]))
            oldEpoch.withLockedValue { $0 = ack["epoch"] as? String ?? "" }
            try await client.request("send_message", ["room": "e", "message": "before restart"])
        }
        let epoch = oldEpoch.withLockedValue { $0 }
        #expect(epoch.count == 16)
        // A new server process: the in-memory store starts the room again at seq 1.
        try await ChatTestServer.run { server in
            let writer = try await server.connect("bob")
            try await writer.request("join_room", ["room": "e"])
            for n in 1...3 { try await writer.request("send_message", ["room": "e", "message": "new \(n)"]) }
            let client = try await server.connect("alice")
            let stale = payload(try await client.request("join_room", ["room": "e", "since": 1, "epoch": epoch]))
            #expect(stale["recovered"] as? Bool == false)
            #expect(stale["epoch"] as? String != epoch)
            #expect((stale["history"] as? [[String: Any]])?.compactMap { $0["seq"] as? Int } == [1, 2, 3])
            let current = try #require(stale["epoch"] as? String)
            let resumed = payload(try await client.request("join_room", ["room": "e", "since": 1, "epoch": current]))
            #expect(resumed["recovered"] as? Bool == true)
            #expect((resumed["history"] as? [[String: Any]])?.compactMap { $0["seq"] as? Int } == [2, 3])
        }
    }

    @Test("a resend with the same idempotency_key, from another connection of the same user, gets the original ack and delivers nothing")
    func idempotentResend() async throws {
        try await ChatTestServer.run { server in
            let watcher = try await server.connect("watcher")
            try await watcher.request("join_room", ["room": "i"])
            let first = try await server.connect("alice")
            try await first.request("join_room", ["room": "i"])
            let original = ["room": "i", "message": "once", "idempotency_key": "key-1_A"]
            #expect(payload(try await first.request("send_message", original))["seq"] as? Int == 1)
            await first.close()
            let second = try await server.connect("alice")
            try await second.request("join_room", ["room": "i"])
            let resend = try await second.request("send_message", original)
            #expect(resend["type"] as? String == "ack" && payload(resend)["seq"] as? Int == 1, "got \(resend)")
            #expect(payload(try await second.request("send_message", ["room": "i", "message": "marker", "idempotency_key": "key-2"]))["seq"] as? Int == 2)
            // The watcher sees the message once, then the marker: the resend delivered nothing.
            #expect(payload(try await watcher.next("new_message"))["message"] as? String == "once")
            #expect(payload(try await watcher.next("new_message"))["seq"] as? Int == 2)
            // Keys are per user.
            let bob = try await server.connect("bob")
            try await bob.request("join_room", ["room": "i"])
            #expect(payload(try await bob.request("send_message", original))["seq"] as? Int == 3)
            for key in ["", "has.dot", "has space", String(repeating: "k", count: 65)] {
                #expect(errorCode(try await bob.request("send_message", ["room": "i", "message": "x", "idempotency_key": key])) == "bad_payload")
            }
        }
    }

    @Test("past --history-memory the least recently used room comes back with a new epoch; a room with members keeps its epoch and seq")
    func evictionStartsANewEpoch() async throws {
        try await ChatTestServer.run({ $0.historyMemory = 16 << 10 }) { server in
            let client = try await server.connect("churn")
            func epoch(of room: String) async throws -> String? {
                payload(try await client.request("history", ["room": room, "since": 0]))["epoch"] as? String
            }
            let coldEpoch = try #require(try await epoch(of: "cold"))
            let warm = payload(try await client.request("join_room", ["room": "warm"]))
            try await client.request("send_message", ["room": "warm", "message": "kept seq"])
            for n in 0..<200 { _ = try await epoch(of: "churn-\(n)") }
            #expect(try await epoch(of: "cold") != coldEpoch)
            // The hub still delivers "warm": its stream must go on at seq 2, in the same epoch.
            let again = payload(try await client.request("join_room", ["room": "warm", "since": 1, "epoch": warm["epoch"] as? String ?? ""]))
            #expect(again["epoch"] as? String == warm["epoch"] as? String && again["seq"] as? Int == 1)
            #expect(payload(try await client.request("send_message", ["room": "warm", "message": "next"]))["seq"] as? Int == 2)
            #expect(payload(try await client.next("new_message"))["seq"] as? Int == 1)
            #expect(payload(try await client.next("new_message"))["seq"] as? Int == 2)
        }
    }

    @Test("a connection in --max-rooms-per-connection rooms gets too_many_rooms for another; rejoining or leaving first works")
    func roomCap() async throws {
        try await ChatTestServer.run({ $0.maxRoomsPerConnection = 3 }) { server in
            let client = try await server.connect("collector")
            for room in ["a", "b", "c"] { try await client.request("join_room", ["room": room]) }
            #expect(errorCode(try await client.request("join_room", ["room": "d"])) == "too_many_rooms")
            #expect(try await client.request("join_room", ["room": "a"])["type"] as? String == "ack")
            try await client.request("leave_room", ["room": "b"])
            #expect(try await client.request("join_room", ["room": "d"])["type"] as? String == "ack")
            #expect(try await client.request("change_room", ["name": "e"])["type"] as? String == "ack")
        }
    }
}
