import NIOCore

/// Spam protection for one connection's inbound events: two token buckets.
///
/// - The **rate** bucket (`burst` tokens, refilled at `eventsPerSecond`) decides each event:
///   one that finds a token is allowed, one that does not is refused (`rate_limited`), and
///   the connection stays open.
/// - The **offered** bucket (`burst + refusalBurst` tokens, refilled at `offeredRatio ×
///   eventsPerSecond`) counts every event the client sends, allowed or refused. An event that
///   finds it empty makes the connection a flood: it is closed with 4029.
///
/// So the flood rule looks at what the client *does* about `rate_limited`, not at how many
/// refusals it collected. A polite client that pipelines and backs off when refused overshoots
/// a little after each refusal (everything it had in flight is refused too) but averages at
/// most about the rate, far below `offeredRatio` × the rate, and stays connected however long
/// it sends. A client that ignores the errors and keeps sending at twice the rate drains the
/// offered bucket at 0.5 × the rate: with the defaults it is closed after 500 / 100 = 5 s, and
/// one blasting thousands per second within a fraction of a second. (The first rule counted
/// refusals: a polite client pipelining 16 messages collected 16 refusals per back-off and was
/// closed with 4029 within 18 s while sending near the limit.)
///
/// Value type, no clock of its own: the caller passes the time, so every rule is unit-testable.
public struct InboundRateLimiter: Sendable {
    public struct Limits: Sendable, Equatable {
        /// Sustained events per second. Typing humans send well under one per second; the
        /// default leaves room for bots and load generators that send 100/s, and still closes
        /// a client blasting thousands per second.
        public var eventsPerSecond: Double
        /// Events allowed at once (a page re-joining its rooms after a reconnect, say).
        public var burst: Double
        /// Events refused at once before the connection can count as a flood: the room a
        /// client has to notice `rate_limited` and slow down, with a pipeline still in flight.
        public var refusalBurst: Double
        /// What a connection may send on average forever, as a multiple of `eventsPerSecond`,
        /// answered or refused. Above 1, so that a client near the limit that backs off is
        /// never a flood; below 2, so that one ignoring the errors at twice the rate is.
        public var offeredRatio: Double

        public init(eventsPerSecond: Double = 200, burst: Double = 400, refusalBurst: Double = 100, offeredRatio: Double = 1.5) {
            self.eventsPerSecond = eventsPerSecond
            self.burst = burst
            self.refusalBurst = refusalBurst
            self.offeredRatio = offeredRatio
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
    private var offered: Double
    private var last: NIODeadline?

    public init(limits: Limits) {
        self.limits = limits
        self.tokens = limits.burst
        self.offered = limits.burst + limits.refusalBurst
    }

    public mutating func admit(at now: NIODeadline) -> Decision {
        if let last {
            let seconds = Double((now - last).nanoseconds) / 1_000_000_000
            if seconds > 0 {
                tokens = min(limits.burst, tokens + seconds * limits.eventsPerSecond)
                offered = min(limits.burst + limits.refusalBurst, offered + seconds * limits.eventsPerSecond * limits.offeredRatio)
            }
        }
        last = now
        guard offered >= 1 else { return .flood }
        offered -= 1
        guard tokens >= 1 else { return .refuse }
        tokens -= 1
        return .allow
    }
}
