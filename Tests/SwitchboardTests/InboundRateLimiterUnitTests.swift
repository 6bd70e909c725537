import NIOCore
import Testing
@testable import Switchboard

@Suite("InboundRateLimiter")
struct InboundRateLimiterUnitTests {
    let limits = InboundRateLimiter.Limits(eventsPerSecond: 10, burst: 5, refusalBurst: 3, refusalsPerSecond: 1)
    let start = NIODeadline.uptimeNanoseconds(1_000_000_000)

    @Test("the burst is allowed at once, then events are refused, then the connection is a flood")
    func burstRefuseFlood() {
        var limiter = InboundRateLimiter(limits: limits)
        for _ in 0..<5 { #expect(limiter.admit(at: start) == .allow) }
        for _ in 0..<3 { #expect(limiter.admit(at: start) == .refuse) }
        #expect(limiter.admit(at: start) == .flood)
    }

    @Test("tokens come back at the configured rate")
    func refill() {
        var limiter = InboundRateLimiter(limits: limits)
        for _ in 0..<5 { _ = limiter.admit(at: start) }
        #expect(limiter.admit(at: start) == .refuse)
        // 100 ms at 10/s is one event.
        #expect(limiter.admit(at: start + .milliseconds(100)) == .allow)
        #expect(limiter.admit(at: start + .milliseconds(100)) == .refuse)
    }

    @Test("a client that stays under the rate is never refused")
    func steadyClient() {
        var limiter = InboundRateLimiter(limits: limits)
        for n in 0..<10_000 {
            #expect(limiter.admit(at: start + .milliseconds(Int64(n) * 110)) == .allow)
        }
    }

    @Test("tolerance for refusals also comes back, so a brief overrun is not a flood")
    func toleranceRefills() {
        var limiter = InboundRateLimiter(limits: limits)
        for _ in 0..<5 { _ = limiter.admit(at: start) }
        for _ in 0..<3 { #expect(limiter.admit(at: start) == .refuse) }
        // After 3 s the refusal tolerance is back to 3 (1/s) and the bucket is full again.
        let later = start + .seconds(3)
        for _ in 0..<5 { #expect(limiter.admit(at: later) == .allow) }
        for _ in 0..<3 { #expect(limiter.admit(at: later) == .refuse) }
        #expect(limiter.admit(at: later) == .flood)
    }
}
