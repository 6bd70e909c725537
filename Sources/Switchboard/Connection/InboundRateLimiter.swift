import NIOCore

/// Spam protection for one connection's inbound events: a token bucket, and a second, slower
/// bucket of tolerance for events refused by the first.
///
/// A client over its rate gets `rate_limited` errors and stays connected; a client that keeps
/// going after being told is flooding, and is closed with 4029. Value type, no clock of its
/// own: the caller passes the time, so every rule is unit-testable.
public struct InboundRateLimiter: Sendable {
    public struct Limits: Sendable, Equatable {
        /// Sustained events per second. Typing humans send well under one per second; the
        /// default leaves room for bots and load generators that send 100/s, and still closes
        /// a client blasting thousands per second.
        public var eventsPerSecond: Double
        /// Events allowed at once (a page re-joining its rooms after a reconnect, say).
        public var burst: Double
        /// Refused events tolerated in a burst before the connection counts as a flood…
        public var refusalBurst: Double
        /// …and how fast that tolerance comes back, per second.
        public var refusalsPerSecond: Double

        public init(eventsPerSecond: Double = 200, burst: Double = 400, refusalBurst: Double = 100, refusalsPerSecond: Double = 5) {
            self.eventsPerSecond = eventsPerSecond
            self.burst = burst
            self.refusalBurst = refusalBurst
            self.refusalsPerSecond = refusalsPerSecond
        }
    }

    public enum Decision: Sendable, Equatable {
        case allow
        /// Answer with `rate_limited`; the connection stays open.
        case refuse
        /// Close with 4029.
        case flood
    }

    public let limits: Limits
    private var tokens: Double
    private var tolerance: Double
    private var last: NIODeadline?

    public init(limits: Limits) {
        self.limits = limits
        self.tokens = limits.burst
        self.tolerance = limits.refusalBurst
    }

    public mutating func admit(at now: NIODeadline) -> Decision {
        if let last {
            let seconds = Double((now - last).nanoseconds) / 1_000_000_000
            if seconds > 0 {
                tokens = min(limits.burst, tokens + seconds * limits.eventsPerSecond)
                tolerance = min(limits.refusalBurst, tolerance + seconds * limits.refusalsPerSecond)
            }
        }
        last = now
        if tokens >= 1 {
            tokens -= 1
            return .allow
        }
        tolerance -= 1
        return tolerance < 0 ? .flood : .refuse
    }
}
