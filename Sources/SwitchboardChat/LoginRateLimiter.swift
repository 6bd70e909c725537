import NIOConcurrencyHelpers
import NIOCore

/// Limits `POST /login` per remote address: failed attempts tightly (password guessing),
/// all attempts loosely (a login flood filling the ticket table).
public final class LoginRateLimiter: Sendable {
    public struct Limits: Sendable, Equatable {
        public var failureBurst: Double = 10
        public var failuresPerSecond: Double = 0.5
        public var attemptBurst: Double = 5000
        public var attemptsPerSecond: Double = 2000
        public init() {}
    }

    struct Bucket {
        var tokens: Double
        var last: NIODeadline

        mutating func refill(capacity: Double, perSecond: Double, now: NIODeadline) {
            tokens = min(capacity, tokens + Double((now - last).nanoseconds) / 1e9 * perSecond)
            last = now
        }
    }

    public let limits: Limits
    private let state = NIOLockedValueBox<[String: (failures: Bucket, attempts: Bucket)]>([:])

    public init(limits: Limits = .init()) {
        self.limits = limits
    }

    /// Whether another attempt from `address` may proceed now. A client out of failure
    /// budget may not try again until some of it has come back.
    ///
    /// With `reservingFailure` the attempt is charged as a failure at once, before the body
    /// is read or a password hashed, and `succeeded(from:)` refunds it. Charged only after
    /// the work, thousands of concurrent guesses would all pass this check before the first
    /// had failed.
    public func allowAttempt(from address: String, reservingFailure: Bool = false) -> Bool {
        let now = NIODeadline.now()
        return state.withLockedValue { state in
            if state.count > 10_000 { prune(&state, now: now) }
            var entry = state[address] ?? (
                Bucket(tokens: limits.failureBurst, last: now), Bucket(tokens: limits.attemptBurst, last: now)
            )
            entry.failures.refill(capacity: limits.failureBurst, perSecond: limits.failuresPerSecond, now: now)
            entry.attempts.refill(capacity: limits.attemptBurst, perSecond: limits.attemptsPerSecond, now: now)
            let allowed = entry.failures.tokens >= 1 && entry.attempts.tokens >= 1
            if allowed {
                entry.attempts.tokens -= 1
                if reservingFailure { entry.failures.tokens -= 1 }
            }
            state[address] = entry
            return allowed
        }
    }

    /// A failure of an attempt allowed without `reservingFailure`.
    public func recordFailure(from address: String) {
        state.withLockedValue { state in
            state[address]?.failures.tokens -= 1
        }
    }

    /// The attempt allowed with `reservingFailure` succeeded: its failure charge comes back.
    public func succeeded(from address: String) {
        state.withLockedValue { state in
            guard let tokens = state[address]?.failures.tokens else { return }
            state[address]?.failures.tokens = min(limits.failureBurst, tokens + 1)
        }
    }

    /// Forgets addresses whose buckets have refilled completely.
    private func prune(_ state: inout [String: (failures: Bucket, attempts: Bucket)], now: NIODeadline) {
        state = state.filter { _, entry in
            var entry = entry
            entry.failures.refill(capacity: limits.failureBurst, perSecond: limits.failuresPerSecond, now: now)
            entry.attempts.refill(capacity: limits.attemptBurst, perSecond: limits.attemptsPerSecond, now: now)
            return entry.failures.tokens < limits.failureBurst || entry.attempts.tokens < limits.attemptBurst
        }
    }
}
