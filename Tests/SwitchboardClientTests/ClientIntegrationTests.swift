import Foundation
import SwitchboardClient
import SwitchboardProtocol
import SwitchboardTestSupport
import Testing

/// The client against the real `switchboard serve` process: outages are real kills and
/// freezes of that process, not mocks.
@Suite("SwitchboardClient against a server process", .serialized)
struct ClientIntegrationTests {
    @Test("join, send and receive: the ack's seq is the delivered message's, presence arrives typed")
    func roundTrip() async throws {
        let server = try await ServerProcess()
        try await ClientHarness.run(url: server.url, user: "alice") { alice in
            let joined = try await alice.client.join("lobby")
            #expect(joined.members == ["alice"])
            #expect(joined.seq == 0)
            try await ClientHarness.run(url: server.url, user: "bob") { bob in
                _ = try await bob.client.join("lobby")
                try await alice.waitUntil("bob's user_joined") { $0.events.contains(.userJoined(room: "lobby", user: "bob")) }
                let seq = try await bob.client.send("hi alice", to: "lobby")
                #expect(seq == 1)
                try await alice.waitUntil("the message") { !$0.messages.isEmpty }
                #expect(alice.messages.map(\.message) == ["hi alice"])
                #expect(alice.messages.first?.from == "bob")
                #expect(alice.messages.first?.seq == seq)
            }
            try await alice.waitUntil("bob's user_left") { $0.events.contains(.userLeft(room: "lobby", user: "bob")) }
        }
    }

    @Test("server errors arrive as typed errors: not_in_room, bad_payload, rate_limited")
    func typedErrors() async throws {
        let server = try await ServerProcess(arguments: ["--rate-limit", "1", "--rate-burst", "2"])
        try await ClientHarness.run(url: server.url, user: "carol") { carol in
            await #expect(throws: SwitchboardClientError.notInRoom("not in room elsewhere")) {
                _ = try await carol.client.send("hello?", to: "elsewhere")
            }
            do {
                _ = try await carol.client.join("no spaces allowed")
                Issue.record("an invalid room name was accepted")
            } catch SwitchboardClientError.badPayload {
            }
            var rateLimited = false
            for index in 0..<10 where !rateLimited {
                do {
                    _ = try await carol.client.history(room: "lobby", since: index)
                } catch SwitchboardClientError.rateLimited {
                    rateLimited = true
                }
            }
            #expect(rateLimited)
        }
    }

    @Test("a 401 at login stops the client for good: no reconnect attempts, run() returns unauthorized")
    func noRetryAfter401() async throws {
        let usersFile = FileManager.default.temporaryDirectory.appendingPathComponent("sb-users-\(UUID())").path
        // An empty users file: nobody can log in.
        FileManager.default.createFile(atPath: usersFile, contents: Data())
        defer { try? FileManager.default.removeItem(atPath: usersFile) }
        let server = try await ServerProcess(arguments: ["--auth", "users-file", "--users-file", usersFile])
        let client = try SwitchboardClient(url: server.url, credentials: .password(username: "mallory", password: "guess"))
        let started = ContinuousClock.now
        let reason = await client.run()
        #expect(reason == .unauthorized)
        #expect(ContinuousClock.now - started < .seconds(5))
        var statuses: [ConnectionStatus] = []
        for await status in client.status { statuses.append(status) }
        #expect(statuses == [.disconnected(.unauthorized)])
        await #expect(throws: SwitchboardClientError.stopped(.unauthorized)) {
            _ = try await client.send("x", to: "lobby")
        }
    }

    @Test("server killed and restarted: sends made during the outage wait and are acked once, the receiver gets each exactly once, and recovered:false (gap) is surfaced for the new epoch")
    func killAndRestart() async throws {
        let server = try await ServerProcess()
        try await ClientHarness.run(url: server.url, user: "alice") { alice in
            try await ClientHarness.run(url: server.url, user: "bob") { bob in
                let before = try await bob.client.join("ops")
                _ = try await alice.client.join("ops")
                for index in 0..<5 { _ = try await alice.client.send("before \(index)", to: "ops") }
                try await bob.waitUntil("the first five") { $0.messages.count == 5 }

                let statusesBefore = bob.statuses.count
                server.kill()
                try await bob.waitUntil("bob notices the outage") { $0.lostConnection(since: statusesBefore) }
                let seqs = try await withThrowingTaskGroup(of: Int.self) { group in
                    for index in 0..<5 {
                        group.addTask { try await alice.client.send("during \(index)", to: "ops", timeout: .seconds(20)) }
                    }
                    try await Task.sleep(for: .milliseconds(300))
                    try await server.start()
                    return try await group.reduce(into: [Int]()) { $0.append($1) }
                }
                #expect(Set(seqs).count == 5)
                try await bob.waitUntil("the five sent during the outage") { $0.messages.count >= 10 }
                try await Task.sleep(for: .milliseconds(300))  // a duplicate would arrive by now
                let texts = bob.messages.map(\.message)
                #expect(texts.count == 10)
                #expect(Set(texts).count == texts.count)
                #expect(Set(texts.suffix(5)) == Set((0..<5).map { "during \($0)" }))
                let gap = bob.events.first { if case .gap = $0 { true } else { false } }
                guard case .gap(let room, let epoch)? = gap else {
                    Issue.record("no gap event after an in-memory restart")
                    return
                }
                #expect(room == "ops")
                #expect(epoch != before.epoch)
                #expect(!bob.events.contains(.recovered(room: "ops")))
            }
        }
    }

    @Test("a frozen server (SIGSTOP, no close frame) is detected by the heartbeat; sends cut off by it are delivered exactly once after the thaw")
    func heartbeatDetectsAFrozenServer() async throws {
        let server = try await ServerProcess()
        try await ClientHarness.run(url: server.url, user: "alice", configure: { $0.heartbeatInterval = .milliseconds(500) }) { alice in
            try await ClientHarness.run(url: server.url, user: "bob") { bob in
                _ = try await bob.client.join("ops")
                _ = try await alice.client.join("ops")
                // Whether the server stores a send that was in its socket when it froze is a race
                // on its side (the connection's close may win); several freezes make it likely
                // that some are stored, and so re-sent after the ack was lost: those must not
                // be delivered twice.
                var acked: [Int] = []
                for round in 0..<6 {
                    let before = alice.statuses.count
                    server.freeze()
                    let frozenAt = ContinuousClock.now
                    async let seq = alice.client.send("across freeze \(round)", to: "ops", timeout: .seconds(30))
                    try await alice.waitUntil("the heartbeat timeout", timeout: .seconds(5)) { $0.lostConnection(since: before) }
                    // Two intervals (ping, then no pong by the next one) plus scheduling slack.
                    #expect(ContinuousClock.now - frozenAt < .seconds(3))
                    server.thaw()
                    acked.append(try await seq)
                }
                try await bob.waitUntil("every message") { $0.messages.count >= 6 }
                try await Task.sleep(for: .milliseconds(500))  // a duplicate would arrive by now
                #expect(bob.messages.map(\.message) == (0..<6).map { "across freeze \($0)" })
                #expect(bob.messages.map(\.seq) == acked)
            }
        }
    }

    @Test("a room the restarted server refuses on rejoin (too_many_rooms) is given up; the other rooms and waiting calls go on")
    func refusedRejoin() async throws {
        let server = try await ServerProcess(arguments: ["--max-rooms-per-connection", "2"])
        try await ClientHarness.run(url: server.url, user: "alice") { alice in
            _ = try await alice.client.join("a")
            _ = try await alice.client.join("b")
            server.kill()
            server.arguments = ["--max-rooms-per-connection", "1"]
            try await server.start()
            let seq = try await alice.client.send("still here", to: "a", timeout: .seconds(10))
            try await alice.waitUntil("the message") { $0.messages.map(\.seq).contains(seq) }
            #expect(await alice.client.joinedRooms == ["a"])
            #expect(alice.events.contains { if case .lostRoom("b", .tooManyRooms) = $0 { true } else { false } })
        }
    }

    @Test("1009: a message over the server's limit closes the connection, reported as messageTooBig")
    func messageTooBigIsTyped() async throws {
        let server = try await ServerProcess(arguments: ["--max-message-bytes", "512"])
        try await ClientHarness.run(url: server.url, user: "dave") { dave in
            _ = try await dave.client.join("lobby")
            await #expect(throws: SwitchboardClientError.timedOut) {
                _ = try await dave.client.send(String(repeating: "x", count: 1000), to: "lobby", timeout: .seconds(2))
            }
            #expect(await dave.client.lastDisconnectReason == .closed(.messageTooBig))
        }
    }
}

@Suite("SwitchboardClient over TLS", .serialized)
struct ClientTLSTests {
    @Test("wss: a custom CA connects and chats; the system roots refuse the self-signed server (retried as a connect failure); insecure mode connects")
    func tls() async throws {
        try await TestCertificate.with { certificate, key, _ in
            let server = try await ServerProcess(arguments: ["--tls-cert", certificate, "--tls-key", key])
            let url = "https://localhost:\(server.port)"
            try await ClientHarness.run(url: url, user: "tess", configure: { $0.tls = .customCA(pemFile: certificate) }) { tess in
                _ = try await tess.client.join("secure")
                let seq = try await tess.client.send("over TLS", to: "secure")
                try await tess.waitUntil("the message") { $0.messages.map(\.seq) == [seq] }
            }
            try await ClientHarness.run(url: url, user: "sam") { sam in
                await #expect(throws: SwitchboardClientError.timedOut) {
                    _ = try await sam.client.join("secure", timeout: .seconds(1))
                }
                guard case .connectFailed? = await sam.client.lastDisconnectReason else {
                    Issue.record("not a connect failure: \(String(describing: await sam.client.lastDisconnectReason))")
                    return
                }
                #expect(!sam.statuses.contains(.connected))
            }
            try await ClientHarness.run(url: "wss://localhost:\(server.port)", user: "ivy", configure: { $0.tls = .insecureNoVerification }) { ivy in
                let joined = try await ivy.client.join("secure")
                #expect(joined.members == ["ivy"])
            }
        }
    }
}
