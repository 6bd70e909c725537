import NIOCore
import SwitchboardTestSupport
import Testing
@testable import Switchboard

@Suite("InboundRateLimiter")
struct InboundRateLimiterUnitTests {
    let limits = InboundRateLimiter.Limits(eventsPerSecond: 10, burst: 5, refusalBurst: 3, offeredRatio: 1.5)
    let start = NIODeadline.uptimeNanoseconds(1_000_000_000)

    /// The limiter's decisions for `count` events sent evenly at `rate` per second from `from`.
    private func decisions(_ limiter: inout InboundRateLimiter, count: Int, rate: Double, from: NIODeadline) -> [InboundRateLimiter.Decision] {
        (0..<count).map { n in limiter.admit(at: from + .nanoseconds(Int64(Double(n) / rate * 1_000_000_000))) }
    }

    @Test("the burst is allowed at once, then events are refused, then the connection is a flood")
    func burstRefuseFlood() {
        var limiter = InboundRateLimiter(limits: limits)
        let all = (0..<9).map { _ in limiter.admit(at: start) }
        #expect(all == Array(repeating: .allow, count: 5) + Array(repeating: .refuse, count: 3) + [.flood])
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

    @Test("a client offering 1.4 x the rate forever is refused the excess but never a flood")
    func justBelowTheOfferedRatio() {
        var limiter = InboundRateLimiter(limits: limits)
        let all = decisions(&limiter, count: 20_000, rate: 14, from: start)
        #expect(!all.contains(.flood))
        #expect(all.filter { $0 == .refuse }.count > 5_000)
    }

    @Test("a client ignoring rate_limited at 2 x the rate is a flood once the offered allowance is used: (burst + refusalBurst) / (0.5 x rate) seconds")
    func twiceTheRateIsAFloodWithinSeconds() {
        var limiter = InboundRateLimiter(limits: limits)
        let all = decisions(&limiter, count: 100, rate: 20, from: start)
        let first = all.firstIndex(of: .flood)
        // 8 / (0.5 x 10/s) = 1.6 s: event 32 or so at 20/s.
        #expect(first.map { (28...36).contains($0) } == true, "first flood at event \(first.map(String.init) ?? "none")")
    }

    @Test("a greedy pipelining client that halves its window and backs off on each refusal is never a flood, for 10 simulated minutes")
    func backingOffClient() {
        // The default limits, and a client with an endless backlog that sends as fast as its
        // window allows: up to 16 unacknowledged, answers after 1 ms (loopback). On a refusal
        // it halves its window and pauses 50 ms x 2^k with jitter (k counts refusals since its
        // last success); each success widens the window again.
        var limiter = InboundRateLimiter(limits: InboundRateLimiter.Limits())
        var random = XorShiftRNG(seed: 7)
        var inFlight: [(answerAt: Int, decision: InboundRateLimiter.Decision)] = []
        var window = 16.0, pausedUntil = 0, failures = 0
        var counts: [InboundRateLimiter.Decision: Int] = [:]
        for millisecond in 0..<600_000 {
            while let answer = inFlight.first, answer.answerAt <= millisecond {
                inFlight.removeFirst()
                if answer.decision == .allow {
                    failures = 0
                    window = min(16, window + 1 / window)
                } else {
                    window = max(1, window / 2)
                    let backoff = Double(50 << min(failures, 6)) * (0.5 + Double(random.next() % 1000) / 1000)
                    pausedUntil = max(pausedUntil, millisecond + Int(backoff))
                    failures += 1
                }
            }
            while millisecond >= pausedUntil, inFlight.count < Int(window) {
                let decision = limiter.admit(at: start + .milliseconds(Int64(millisecond)))
                counts[decision, default: 0] += 1
                inFlight.append((millisecond + 1, decision))
            }
        }
        #expect(counts[.flood, default: 0] == 0)
        #expect(counts[.refuse, default: 0] > 1000, "the client must actually have run into the limit: \(counts)")
        // It kept sending near the limit: about half the rate on average, with its pauses.
        #expect(counts[.allow, default: 0] > 50_000, "\(counts)")
    }

    @Test("the offered allowance comes back too, so a brief overrun is not a flood")
    func offeredAllowanceRefills() {
        var limiter = InboundRateLimiter(limits: limits)
        let first = (0..<8).map { _ in limiter.admit(at: start) }
        #expect(first.filter { $0 == .refuse }.count == 3)
        // After 1 s both buckets are full again (10/s and 15/s).
        let later = start + .seconds(1)
        let again = (0..<9).map { _ in limiter.admit(at: later) }
        #expect(again == Array(repeating: .allow, count: 5) + Array(repeating: .refuse, count: 3) + [.flood])
    }
}
