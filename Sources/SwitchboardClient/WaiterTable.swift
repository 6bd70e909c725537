import NIOConcurrencyHelpers

/// Continuations waiting for a key (a reply's id, the connection becoming ready), resumable
/// from anywhere, including a task cancellation handler, which cannot hop onto an actor. A
/// result for a key that is expected but not yet waited for is kept until the wait, so a reply
/// racing ahead of its waiter is not lost. The lock is never held across an await.
final class WaiterTable<Value: Sendable>: Sendable {
    private struct State {
        var nextKey = 0
        var expected: Set<Int> = []
        var waiters: [Int: CheckedContinuation<Value, any Error>] = [:]
        var early: [Int: Result<Value, any Error>] = [:]
    }

    private let state = NIOLockedValueBox(State())

    /// A key to `wait` on; results for it are kept from now on.
    func makeKey() -> Int {
        state.withLockedValue { state in
            state.nextKey += 1
            state.expected.insert(state.nextKey)
            return state.nextKey
        }
    }

    /// Waits for the key's result; a cancelled task stops waiting with CancellationError.
    func wait(key: Int) async throws -> Value {
        try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { continuation in
                let early: Result<Value, any Error>? = state.withLockedValue { state in
                    if let result = state.early.removeValue(forKey: key) {
                        state.expected.remove(key)
                        return result
                    }
                    state.waiters[key] = continuation
                    return nil
                }
                if let early { continuation.resume(with: early) }
            }
        } onCancel: {
            resume(key: key, with: .failure(CancellationError()))
        }
    }

    func resume(key: Int, with result: Result<Value, any Error>) {
        let waiter = state.withLockedValue { state -> CheckedContinuation<Value, any Error>? in
            if let waiter = state.waiters.removeValue(forKey: key) {
                state.expected.remove(key)
                return waiter
            }
            if state.expected.contains(key), state.early[key] == nil { state.early[key] = result }
            return nil
        }
        waiter?.resume(with: result)
    }

    /// Resumes every waiter, and every expected key not yet waited for, with `result`.
    func resumeAll(with result: Result<Value, any Error>) {
        let waiters = state.withLockedValue { state in
            let waiters = Array(state.waiters.values)
            for key in state.expected where state.waiters[key] == nil && state.early[key] == nil {
                state.early[key] = result
            }
            state.expected.subtract(state.waiters.keys)
            state.waiters.removeAll()
            return waiters
        }
        for waiter in waiters { waiter.resume(with: result) }
    }
}
