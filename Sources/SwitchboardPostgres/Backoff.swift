/// Exponential backoff with full jitter (a uniformly random wait between zero and the
/// exponential bound): nodes that lost the database together do not come back in step.
struct Backoff: Sendable {
    var base: Duration = .milliseconds(100)
    var maximum: Duration = .seconds(5)

    func delay(attempt: Int) -> Duration {
        let bound = min(base * (1 << min(max(attempt - 1, 0), 20)), maximum)
        return bound * Double.random(in: 0...1)
    }
}
