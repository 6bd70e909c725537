import Foundation
import NIOConcurrencyHelpers
import SwitchboardClient
import SwitchboardProtocol

/// Runs a client for the body's duration (structured: its `run()` is a child task, cancelled
/// when the body ends) and records its events and statuses as they arrive.
struct ClientHarness: Sendable {
    let client: SwitchboardClient
    let recorded = NIOLockedValueBox<(events: [ClientEvent], statuses: [ConnectionStatus])>(([], []))

    static func run<T: Sendable>(
        url: String, user: String, configure: (inout ClientConfiguration) -> Void = { _ in },
        _ body: @Sendable (ClientHarness) async throws -> T
    ) async throws -> T {
        var configuration = ClientConfiguration()
        configuration.backoff = Backoff(initial: .milliseconds(100), maximum: .milliseconds(500))
        configuration.requestTimeout = .seconds(10)
        configuration.loginTimeout = .seconds(1)
        configure(&configuration)
        let client = try SwitchboardClient(url: url, credentials: .password(username: user, password: nil), configuration: configuration)
        let harness = ClientHarness(client: client)
        return try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { await client.run() }
            group.addTask {
                for await event in client.events { harness.recorded.withLockedValue { $0.events.append(event) } }
            }
            group.addTask {
                for await status in client.status { harness.recorded.withLockedValue { $0.statuses.append(status) } }
            }
            defer { group.cancelAll() }
            do {
                return try await body(harness)
            } catch {
                print("client \(user): statuses \(harness.statuses), events \(harness.events)")
                throw error
            }
        }
    }

    var events: [ClientEvent] { recorded.withLockedValue { $0.events } }
    var statuses: [ConnectionStatus] { recorded.withLockedValue { $0.statuses } }

    var messages: [NewMessage] {
        events.compactMap { if case .newMessage(let message) = $0 { message } else { nil } }
    }

    /// Whether a state other than `.connected` was reported after the first `index` statuses.
    /// (The status stream keeps only the newest state, so which one was seen is left open.)
    func lostConnection(since index: Int) -> Bool {
        statuses.dropFirst(index).contains { $0 != .connected }
    }

    /// Polls until `condition` holds, or fails the wait after `timeout`.
    func waitUntil(
        _ what: String, timeout: Duration = .seconds(15), _ condition: @Sendable (ClientHarness) -> Bool
    ) async throws {
        let deadline = ContinuousClock.now + timeout
        while !condition(self) {
            guard ContinuousClock.now < deadline else { throw ServerProcess.Failure("timed out waiting for \(what)") }
            try await Task.sleep(for: .milliseconds(20))
        }
    }
}
