/// Reconnect delays: exponential, capped, with full jitter (a uniformly random delay between
/// zero and the attempt's ceiling), so a server restart is not met by every client at once.
public struct Backoff: Sendable, Equatable {
    /// The ceiling of the first attempt.
    public var initial: Duration
    /// No delay is ever longer than this.
    public var maximum: Duration
    public var multiplier: Double

    public init(initial: Duration = .milliseconds(250), maximum: Duration = .seconds(30), multiplier: Double = 2) {
        self.initial = initial
        self.maximum = max(maximum, initial)
        self.multiplier = max(multiplier, 1)
    }

    /// The longest delay before attempt `attempt` (1-based).
    public func ceiling(attempt: Int) -> Duration {
        let factor = pow(multiplier, Double(max(attempt - 1, 0)))
        let seconds = min(initial.seconds * factor, maximum.seconds)
        return .seconds(seconds)
    }

    /// The delay before attempt `attempt`, for `unit` drawn uniformly from `0..<1`.
    public func delay(attempt: Int, unit: Double) -> Duration {
        .seconds(ceiling(attempt: attempt).seconds * min(max(unit, 0), 1))
    }
}

extension Duration {
    var seconds: Double {
        let (seconds, attoseconds) = components
        return Double(seconds) + Double(attoseconds) / 1e18
    }
}

private func pow(_ base: Double, _ exponent: Double) -> Double {
    // Foundation-free: exponent is a small whole number of attempts; capped so it cannot overflow.
    var result = 1.0
    for _ in 0..<Int(min(exponent, 64)) { result *= base }
    return result
}
