import Foundation

/// Polling helper for asynchronous conditions in tests: waits until `condition` holds or the
/// timeout passes. Correctness never depends on the timeout, only on the condition.
public func eventually(
    _ what: String, timeout: Duration = .seconds(10), _ condition: @Sendable () async throws -> Bool
) async throws {
    let deadline = ContinuousClock.now + timeout
    while try await !condition() {
        if ContinuousClock.now >= deadline { throw TestWebSocketClient.Timeout(waitingFor: what) }
        try await Task.sleep(for: .milliseconds(5))
    }
}
