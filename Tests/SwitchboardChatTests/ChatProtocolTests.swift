import Foundation
import Switchboard
import SwitchboardChat
import SwitchboardTestSupport
import Testing

/// Every row of PROTOCOL.md's chat events, with real clients.
@Suite("Chat protocol")
struct ChatProtocolTests {
    @Test("join_room acks room, members, seq and history; joining again is idempotent")
    func joinRoom() async throws {
        try await ChatTestServer.run { server in
            let alice = try await server.connect("alice")
            let ack = try await alice.request("join_room", ["room": "lobby"])
            #expect(ack["type"] as? String == "ack")
            #expect(payload(ack)["room"] as? String == "lobby")
            #expect(payload(ack)["members"] as? [String] == ["alice"])
            #expect(payload(ack)["seq"] as? Int == 0)
            #expect((payload(ack)["history"] as? [Any])?.isEmpty == true)
            #expect(payload(ack)["recovered"] == nil)
            let again = try await alice.request("join_room", ["room": "lobby"])
            #expect(again["type"] as? String == "ack")
            #expect(payload(again)["members"] as? [String] == ["alice"])
        }
    }

    @Test("send_message delivers new_message to every member, sender included, with seq 1, 2, …; ack carries room and seq")
    func sendMessage() async throws {
        try await ChatTestServer.run { server in
            let alice = try await server.connect("alice")
            let bob = try await server.connect("bob")
            try await alice.request("join_room", ["room": "r"])
            try await bob.request("join_room", ["room": "r"])
            for n in 1...3 {
                let ack = try await alice.request("send_message", ["room": "r", "message": "m\(n)"])
                #expect(ack["type"] as? String == "ack")
                #expect(payload(ack)["room"] as? String == "r")
                #expect(payload(ack)["seq"] as? Int == n)
            }
            for client in [alice, bob] {
                for n in 1...3 {
                    let message = payload(try await client.next("new_message"))
                    #expect(message["seq"] as? Int == n)
                    #expect(message["room"] as? String == "r")
                    #expect(message["from"] as? String == "alice")
                    #expect(message["message"] as? String == "m\(n)")
                    let sent = try #require(message["sent"] as? String)
                    #expect(sent.wholeMatch(of: /\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z/) != nil, "sent = \(sent)")
                }
            }
        }
    }

    @Test("a client-supplied from is ignored: from is the authenticated user")
    func spoofedFrom() async throws {
        try await ChatTestServer.run { server in
            let mallory = try await server.connect("mallory")
            try await mallory.request("join_room", ["room": "r"])
            try await mallory.request("send_message", ["room": "r", "message": "hi", "from": "admin"])
            #expect(payload(try await mallory.next("new_message"))["from"] as? String == "mallory")
        }
    }

    @Test("4096 characters are accepted, 4097 and empty get bad_payload")
    func messageLength() async throws {
        try await ChatTestServer.run { server in
            let client = try await server.connect("len")
            try await client.request("join_room", ["room": "r"])
            let exact = String(repeating: "é", count: 4096)
            #expect(try await client.request("send_message", ["room": "r", "message": exact])["type"] as? String == "ack")
            #expect(payload(try await client.next("new_message"))["message"] as? String == exact)
            #expect(errorCode(try await client.request("send_message", ["room": "r", "message": exact + "x"])) == "bad_payload")
            #expect(errorCode(try await client.request("send_message", ["room": "r", "message": ""])) == "bad_payload")
            #expect(errorCode(try await client.request("send_message", ["room": "r", "message": 5])) == "bad_payload")
            #expect(errorCode(try await client.request("send_message", ["room": "r"])) == "bad_payload")
        }
    }

    @Test("room names outside ^[A-Za-z0-9_.-]{1,64}$ get bad_payload", arguments: ["", "has space", "ü", String(repeating: "r", count: 65)])
    func roomNames(room: String) async throws {
        try await ChatTestServer.run { server in
            let client = try await server.connect("names")
            #expect(errorCode(try await client.request("join_room", ["room": room])) == "bad_payload")
            #expect(try await client.request("join_room", ["room": String(repeating: "r", count: 64)])["type"] as? String == "ack")
        }
    }

    @Test("sending or leaving a room one is not in gets not_in_room")
    func notInRoom() async throws {
        try await ChatTestServer.run { server in
            let client = try await server.connect("outsider")
            #expect(errorCode(try await client.request("send_message", ["room": "x", "message": "hi"])) == "not_in_room")
            #expect(errorCode(try await client.request("leave_room", ["room": "x"])) == "not_in_room")
        }
    }

    @Test("leave_room acks and stops delivery; change_room leaves every room and joins the new one")
    func leaveAndChange() async throws {
        try await ChatTestServer.run { server in
            let alice = try await server.connect("alice")
            let bob = try await server.connect("bob")
            for room in ["a", "b"] {
                try await alice.request("join_room", ["room": room])
                try await bob.request("join_room", ["room": room])
            }
            let leave = try await alice.request("leave_room", ["room": "a"])
            #expect(leave["type"] as? String == "ack" && payload(leave)["room"] as? String == "a")
            try await bob.request("send_message", ["room": "a", "message": "after leave"])
            let change = try await alice.request("change_room", ["name": "c"])
            #expect(change["type"] as? String == "ack")
            #expect(payload(change)["room"] as? String == "c")
            #expect(payload(change)["members"] as? [String] == ["alice"])
            #expect(payload(change)["seq"] as? Int == 0)
            #expect(errorCode(try await alice.request("send_message", ["room": "b", "message": "x"])) == "not_in_room")
            try await bob.request("send_message", ["room": "c", "message": "x"]).self
            // alice saw nothing from room a after leaving it.
            try await alice.request("send_message", ["room": "c", "message": "mine"])
            let mine = payload(try await alice.next("new_message"))
            #expect(mine["room"] as? String == "c")
        }
    }

    @Test("a room left by its last member is freed, and its seq goes on from the store when it is joined again")
    func leftRoomsAreFreed() async throws {
        try await ChatTestServer.run { server in
            let roamer = try await server.connect("roamer")
            for index in 0..<100 {
                try await roamer.request("join_room", ["room": "once\(index)"])
                try await roamer.request("send_message", ["room": "once\(index)", "message": "hello"])
                try await roamer.request("leave_room", ["room": "once\(index)"])
            }
            #expect(server.server.hub.roomCount == 0)
            // Back in a freed room: the history and seq are the store's.
            let watcher = try await server.connect("watcher")
            let again = try await watcher.request("join_room", ["room": "once7"])
            #expect(payload(again)["seq"] as? Int == 1)
            #expect((payload(again)["history"] as? [[String: Any]])?.count == 1)
            try await roamer.request("join_room", ["room": "once7"])
            let next = try await roamer.request("send_message", ["room": "once7", "message": "again"])
            #expect(payload(next)["seq"] as? Int == 2)
            #expect(payload(try await watcher.next("new_message"))["seq"] as? Int == 2)
            await roamer.close()
            await watcher.close()
            try await eventually("the room a closed connection was in is freed") { server.server.hub.roomCount == 0 }
        }
    }

    @Test("presence: user_joined for a user's first connection only, user_left for their last")
    func presence() async throws {
        try await ChatTestServer.run { server in
            let watcher = try await server.connect("watcher")
            try await watcher.request("join_room", ["room": "p"])
            let first = try await server.connect("dana")
            let joinAck = try await first.request("join_room", ["room": "p"])
            #expect(Set(payload(joinAck)["members"] as? [String] ?? []) == ["watcher", "dana"])
            let joined = payload(try await watcher.next("user_joined"))
            #expect(joined["user"] as? String == "dana" && joined["room"] as? String == "p")
            let second = try await server.connect("dana")
            try await second.request("join_room", ["room": "p"])
            await first.close()
            // The second connection is still there: no user_left yet. A marker message proves
            // the watcher has seen everything up to now.
            try await second.request("send_message", ["room": "p", "message": "marker"])
            let next = try await watcher.socket.nextJSON()
            #expect(next["type"] as? String == "new_message", "got \(next)")
            await second.close()
            let left = payload(try await watcher.next("user_left"))
            #expect(left["user"] as? String == "dana" && left["room"] as? String == "p")
        }
    }

    @Test("history: a join gets the latest 50; since N recovers seq > N with recovered true")
    func historyAndSince() async throws {
        try await ChatTestServer.run { server in
            let writer = try await server.connect("writer")
            try await writer.request("join_room", ["room": "h"])
            for n in 1...60 { try await writer.request("send_message", ["room": "h", "message": "m\(n)"]) }
            let reader = try await server.connect("reader")
            let latest = payload(try await reader.request("join_room", ["room": "h"]))
            let history = try #require(latest["history"] as? [[String: Any]])
            #expect(history.count == 50)
            #expect(history.first?["seq"] as? Int == 11 && history.last?["seq"] as? Int == 60)
            #expect(history.last?["from"] as? String == "writer" && history.last?["message"] as? String == "m60")
            #expect(latest["seq"] as? Int == 60)

            let recovering = try await server.connect("recovering")
            let since = payload(try await recovering.request("join_room", ["room": "h", "since": 55]))
            #expect((since["history"] as? [[String: Any]])?.compactMap { $0["seq"] as? Int } == [56, 57, 58, 59, 60])
            #expect(since["recovered"] as? Bool == true)
            let ahead = payload(try await recovering.request("join_room", ["room": "h", "since": 99]))
            #expect(ahead["recovered"] as? Bool == false)
            #expect(errorCode(try await recovering.request("join_room", ["room": "h", "since": -1])) == "bad_payload")
        }
    }

    @Test("since older than the room keeps gets what is kept, with recovered false")
    func sinceBeyondRetention() async throws {
        try await ChatTestServer.run({ $0.roomRetention = 10 }) { server in
            let writer = try await server.connect("writer")
            try await writer.request("join_room", ["room": "t"])
            for n in 1...25 { try await writer.request("send_message", ["room": "t", "message": "m\(n)"]) }
            let late = try await server.connect("late")
            let ack = payload(try await late.request("join_room", ["room": "t", "since": 3]))
            #expect((ack["history"] as? [[String: Any]])?.compactMap { $0["seq"] as? Int } == Array(16...25))
            #expect(ack["recovered"] as? Bool == false)
        }
    }

    @Test("a joiner sees the ack before any live message of the room, then every later seq without gap or repeat")
    func joinDuringTraffic() async throws {
        try await ChatTestServer.run { server in
            let writer = try await server.connect("writer")
            try await writer.request("join_room", ["room": "busy"])
            let sending = Task {
                for n in 1...300 { try await writer.send(raw: #"{"type":"send_message","payload":{"room":"busy","message":"m\#(n)"}}"#) }
            }
            try await Task.sleep(for: .milliseconds(5))
            let joiner = try await server.connect("joiner")
            try await joiner.send(raw: #"{"type":"join_room","payload":{"room":"busy"},"id":"j"}"#)
            let ack = try await joiner.socket.nextJSON()
            #expect(ack["type"] as? String == "ack" && ack["id"] as? String == "j", "first event was \(ack)")
            let history = (payload(ack)["history"] as? [[String: Any]] ?? []).compactMap { $0["seq"] as? Int }
            var expected = (payload(ack)["seq"] as? Int ?? 0) + 1
            #expect(history.last.map { $0 == expected - 1 } ?? true)
            try await sending.value
            while expected <= 300 {
                let message = payload(try await joiner.next("new_message"))
                try #require(message["seq"] as? Int == expected)
                expected += 1
            }
        }
    }

    @Test("string and integer ids are echoed; errors without an id carry none")
    func ids() async throws {
        try await ChatTestServer.run { server in
            let client = try await server.connect("ids")
            try await client.send(raw: #"{"type":"join_room","payload":{"room":"i"},"id":"abc"}"#)
            #expect(try await client.socket.nextEvent(ofType: "ack")["id"] as? String == "abc")
            try await client.send(raw: #"{"type":"join_room","payload":{"room":"i"},"id":42}"#)
            #expect(try await client.socket.nextEvent(ofType: "ack")["id"] as? Int == 42)
            try await client.send(raw: #"{"type":"leave_room","payload":{"room":"zz"}}"#)
            let error = try await client.socket.nextEvent(ofType: "error")
            #expect(error["id"] == nil)
            #expect(payload(error)["code"] as? String == "not_in_room")
        }
    }

    @Test("every error code of the envelope rules, and the connection stays open", arguments: [
        ("{", "bad_json"),
        (#"{"id":1}"#, "bad_event"),
        (#"{"type":"dance","id":1}"#, "unknown_event"),
        (#"{"type":"join_room","payload":"lobby","id":1}"#, "bad_payload"),
        (#"{"type":"join_room","payload":{"room":"l","since":"x"},"id":1}"#, "bad_payload"),
    ])
    func envelopeErrors(message: String, code: String) async throws {
        try await ChatTestServer.run { server in
            let client = try await server.connect("errs")
            try await client.send(raw: message)
            #expect(payload(try await client.socket.nextEvent(ofType: "error"))["code"] as? String == code)
            #expect(try await client.request("join_room", ["room": "still-open"])["type"] as? String == "ack")
        }
    }
}
