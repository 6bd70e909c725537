import Foundation
import JWTKit
import NIOConcurrencyHelpers
import SwitchboardClient
import SwitchboardProtocol
import Testing

/// Catch-up after a reconnect to a server that kept the room's stream: the client resumes from
/// the last message it saw, pages while the server says `more`, and calls its token provider
/// again for the new login.
@Suite("SwitchboardClient resume against a server process", .serialized)
struct ResumeIntegrationTests {
    struct Claims: JWTPayload {
        var sub: SubjectClaim
        var exp: ExpirationClaim
        func verify(using algorithm: some JWTAlgorithm) throws { try exp.verifyNotExpired() }
    }

    @Test("missed messages beyond one join ack are paged in with history: each exactly once, in order, then recovered; the token provider is called for every login")
    func pagedCatchUp() async throws {
        let secret = "a-test-secret-of-at-least-32-bytes!!"
        let signer = JWTKeyCollection()
        await signer.add(hmac: HMACKey(from: secret), digestAlgorithm: .sha256)
        // 64 KiB outbound budget: a join ack carries at most that much history.
        let server = try await ServerProcess(arguments: [
            "--auth", "jwt", "--jwt-secret", secret, "--max-queued-bytes", "65536", "--max-message-bytes", "8192",
        ])
        let logins = NIOLockedValueBox(0)
        let (releases, release) = AsyncStream<Void>.makeStream()
        let bobToken: @Sendable () async throws -> String = {
            // The second login (the reconnect) waits until alice has sent what bob will miss.
            if logins.withLockedValue({ $0 += 1; return $0 }) > 1 {
                for await _ in releases { break }
            }
            return try await signer.sign(Claims(sub: "bob", exp: .init(value: Date() + 60)))
        }
        let aliceToken = try await signer.sign(Claims(sub: "alice", exp: .init(value: Date() + 60)))
        var configuration = ClientConfiguration()
        configuration.backoff = Backoff(initial: .milliseconds(50), maximum: .milliseconds(100))
        let bob = try SwitchboardClient(url: server.url, credentials: .token(bobToken), configuration: configuration)
        let alice = try SwitchboardClient(url: server.url, credentials: .token { aliceToken }, configuration: configuration)
        let received = NIOLockedValueBox<[ClientEvent]>([])
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { await bob.run() }
            group.addTask { await alice.run() }
            group.addTask { for await event in bob.events { received.withLockedValue { $0.append(event) } } }
            group.addTask { for await _ in alice.events {} }
            defer { group.cancelAll() }
            _ = try await bob.join("archive")
            _ = try await alice.join("archive")
            _ = try await alice.send("seen live", to: "archive")
            try await waitUntil { received.withLockedValue { $0.contains { if case .newMessage = $0 { true } else { false } } } }
            // Over the server's 8 KiB limit: it closes bob's connection (1009); the send gives up.
            await #expect(throws: SwitchboardClientError.timedOut) {
                _ = try await bob.send(String(repeating: "x", count: 9000), to: "archive", timeout: .milliseconds(500))
            }
            let missed = (1...40).map { "missed \($0) " + String(repeating: "m", count: 4000) }
            for text in missed { _ = try await alice.send(text, to: "archive") }
            release.yield()
            do {
                try await waitUntil { received.withLockedValue { $0.contains(.recovered(room: "archive")) } }
            } catch {
                let summary = received.withLockedValue { $0.map { if case .newMessage(let m) = $0 { "msg \(m.seq)" } else { "\($0)" } } }
                Issue.record("no recovery; bob got \(summary), logins \(logins.withLockedValue { $0 })")
                throw error
            }
            let events = received.withLockedValue { $0 }
            let messages = events.compactMap { if case .newMessage(let message) = $0 { message } else { nil } }
            #expect(messages.map(\.message) == ["seen live"] + missed)
            #expect(messages.map(\.seq) == Array(1...41))
            #expect(!events.contains { if case .gap = $0 { true } else { false } })
            #expect(logins.withLockedValue { $0 } == 2)
        }
    }

    private func waitUntil(_ condition: @Sendable () -> Bool) async throws {
        let deadline = ContinuousClock.now + .seconds(20)
        while !condition() {
            guard ContinuousClock.now < deadline else { throw ServerProcess.Failure("timed out") }
            try await Task.sleep(for: .milliseconds(20))
        }
    }
}
