import Clocks
import Foundation
import NIOConcurrencyHelpers
import SwitchboardClient
import Testing

/// The reconnect loop on a test clock: time only moves when the test says so, so the waits
/// are checked exactly, not with sleeps and slack.
@Suite("Client backoff on a test clock")
struct BackoffClockTests {
    @Test("with nothing listening, each reconnect waits its jittered delay, within the attempt's ceiling, and not a moment less")
    func backoffBounds() async throws {
        let clock = TestClock<Duration>()
        let port = try await ServerProcess.freePort()  // released: connecting is refused
        var configuration = ClientConfiguration()
        configuration.backoff = Backoff(initial: .seconds(1), maximum: .seconds(4))
        let client = try SwitchboardClient(
            url: "http://127.0.0.1:\(port)", credentials: .password(username: "x", password: nil),
            configuration: configuration, clock: clock
        )
        let statuses = NIOLockedValueBox<[ConnectionStatus]>([])
        func waitFor(_ what: String, _ condition: @Sendable ([ConnectionStatus]) -> Bool) async throws {
            let deadline = ContinuousClock.now + .seconds(10)
            while !condition(statuses.withLockedValue { $0 }) {
                guard ContinuousClock.now < deadline else { throw ServerProcess.Failure("timed out waiting for \(what)") }
                try await Task.sleep(for: .milliseconds(10))
            }
        }
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { await client.run() }
            group.addTask { for await status in client.status { statuses.withLockedValue { $0.append(status) } } }
            defer { group.cancelAll() }
            for attempt in 2...6 {
                try await waitFor("attempt \(attempt) scheduled") { $0.contains { $0.isReconnecting(attempt: attempt) } }
                guard case .reconnecting(_, let delay, let reason)? = statuses.withLockedValue({ $0.last }) else {
                    Issue.record("not waiting before attempt \(attempt)")
                    return
                }
                guard case .connectFailed = reason else {
                    Issue.record("unexpected reason \(reason)")
                    return
                }
                #expect(delay >= .zero)
                #expect(delay <= configuration.backoff.ceiling(attempt: attempt))
                let seen = statuses.withLockedValue { $0.count }
                if delay > .milliseconds(1) {
                    await clock.advance(by: delay - .milliseconds(1))
                    try await Task.sleep(for: .milliseconds(200))  // real time for a premature attempt to show
                    #expect(statuses.withLockedValue { $0.count } == seen, "reconnected before its delay ran out")
                }
                await clock.advance(by: .milliseconds(1))
            }
            #expect(configuration.backoff.ceiling(attempt: 6) == .seconds(4))
        }
    }
}

extension ConnectionStatus {
    func isReconnecting(attempt: Int) -> Bool {
        if case .reconnecting(attempt, _, _) = self { true } else { false }
    }
}
