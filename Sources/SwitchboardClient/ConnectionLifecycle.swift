/// The client's connect / reconnect decisions as a value: events in, actions out. No sockets,
/// no clock, no randomness of its own (the jitter's random unit is passed in), so every path,
/// including the backoff bounds, is unit-tested without a server.
public struct ConnectionLifecycle: Sendable, Equatable {
    public enum State: Sendable, Equatable {
        case idle
        case connecting(attempt: Int)
        case connected
        case waiting(attempt: Int, delay: Duration)
        case stopped(DisconnectReason)
    }

    public enum Action: Sendable, Equatable {
        /// Log in (if needed) and open a connection.
        case connect(attempt: Int)
        /// Sleep `delay`, then report `delayElapsed()`.
        case wait(attempt: Int, delay: Duration, reason: DisconnectReason)
        /// Stop for good.
        case stop(DisconnectReason)
        case none
    }

    /// What ended a connection attempt before it was open.
    public enum ConnectFailure: Sendable, Equatable {
        case unauthorized
        case forbidden
        case transient(String)
    }

    public private(set) var state: State = .idle
    public let backoff: Backoff
    /// nil: retry forever.
    public let maxAttempts: Int?
    /// False when connecting with a ready ticket: it cannot be used twice.
    public let canReconnect: Bool

    public init(backoff: Backoff, maxAttempts: Int? = nil, canReconnect: Bool = true) {
        self.backoff = backoff
        self.maxAttempts = maxAttempts
        self.canReconnect = canReconnect
    }

    public mutating func start() -> Action {
        guard case .idle = state else { return .none }
        state = .connecting(attempt: 1)
        return .connect(attempt: 1)
    }

    /// The connection is open: the next failure starts counting attempts from 1 again.
    public mutating func connected() -> Action {
        guard case .connecting = state else { return .none }
        state = .connected
        return .none
    }

    public mutating func connectFailed(_ failure: ConnectFailure, randomUnit: Double) -> Action {
        guard case .connecting(let attempt) = state else { return .none }
        switch failure {
        // Retrying the same credentials or origin gets the same answer, and hammering a
        // login endpoint with them looks like guessing.
        case .unauthorized: return stop(.unauthorized)
        case .forbidden: return stop(.forbidden)
        case .transient(let why):
            return retry(after: attempt, reason: .connectFailed(why), randomUnit: randomUnit)
        }
    }

    public mutating func disconnected(_ reason: DisconnectReason, randomUnit: Double) -> Action {
        switch state {
        case .connected, .connecting:
            return retry(after: 0, reason: reason, randomUnit: randomUnit)
        case .idle, .waiting, .stopped:
            return .none
        }
    }

    public mutating func delayElapsed() -> Action {
        guard case .waiting(let attempt, _) = state else { return .none }
        state = .connecting(attempt: attempt)
        return .connect(attempt: attempt)
    }

    public mutating func close() -> Action {
        if case .stopped = state { return .none }
        return stop(.closedByClient)
    }

    private mutating func retry(after failedAttempt: Int, reason: DisconnectReason, randomUnit: Double) -> Action {
        guard canReconnect else { return stop(.ticketSpent) }
        let attempt = failedAttempt + 1
        if let maxAttempts, failedAttempt >= maxAttempts { return stop(.gaveUp(attempts: failedAttempt)) }
        let delay = backoff.delay(attempt: attempt, unit: randomUnit)
        state = .waiting(attempt: attempt, delay: delay)
        return .wait(attempt: attempt, delay: delay, reason: reason)
    }

    private mutating func stop(_ reason: DisconnectReason) -> Action {
        state = .stopped(reason)
        return .stop(reason)
    }
}
