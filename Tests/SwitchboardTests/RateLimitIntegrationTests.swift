import Foundation
import Switchboard
import SwitchboardTestSupport
import Testing

/// The flood rule against real clients: one that slows down when told stays, one that
/// ignores `rate_limited` goes. Limits are a quarter of the defaults (50/s, burst 20), to keep
/// the minute-long test cheap; the rule is the same.
@Suite("Rate limit (integration)")
struct RateLimitIntegrationTests {
    private static var configuration: SwitchboardServerConfiguration {
        var configuration = SwitchboardServerConfiguration()
        configuration.connection.rateLimit = InboundRateLimiter.Limits(eventsPerSecond: 50, burst: 20)
        return configuration
    }

    @Test("a client that pipelines up to 16 events and halves its window and backs off on rate_limited stays connected for 60 s of sending at the limit")
    func politeClientStays() async throws {
        try await LibraryTestServer.run(configuration: Self.configuration) { server in
            let client = try await server.connect("polite")
            var random = XorShiftRNG(seed: 11)
            var window = 16, failures = 0, id = 0, refused = 0, acked = 0
            // It has messages for 1.2 x the limit, and sends each batch (its window) at once.
            var backlog = 0.0
            var last = ContinuousClock.now
            let end = last + .seconds(60)
            while ContinuousClock.now < end {
                let now = ContinuousClock.now
                backlog = min(64, backlog + Double((now - last).components.attoseconds) / 1e18 * 60 + Double((now - last).components.seconds) * 60)
                last = now
                let batch = min(window, Int(backlog))
                guard batch > 0 else {
                    try await Task.sleep(for: .milliseconds(5))
                    continue
                }
                backlog -= Double(batch)
                for _ in 0..<batch {
                    id += 1
                    try await client.send(text: #"{"type":"echo_event","id":\#(id),"payload":{"text":"m"}}"#)
                }
                var limited = false
                for _ in 0..<batch {
                    // Generous: the assertion is that it is never closed, and the whole suite
                    // runs beside this minute-long test.
                    let answer = try await client.nextJSON(timeout: .seconds(30))
                    if answer["type"] as? String == "ack" {
                        acked += 1
                    } else if (answer["payload"] as? [String: Any])?["code"] as? String == "rate_limited" {
                        limited = true
                        refused += 1
                    }
                }
                if limited {
                    window = max(1, window / 2)
                    let backoff = min(50 << failures, 2000)
                    failures += 1
                    try await Task.sleep(for: .milliseconds(Double(backoff) * (0.5 + Double(random.next() % 1000) / 1000)))
                } else {
                    failures = 0
                    window = min(16, window + 1)
                }
            }
            #expect(server.closeCodes.isEmpty)
            #expect(refused > 20, "it must have run into the limit")
            #expect(acked > 40 * 60, "it sent near the limit")
            // Still connected and served: after a pause (its last batch may have used the
            // tokens, and a refused event is answered with rate_limited, not an ack).
            try await Task.sleep(for: .seconds(1))
            id += 1
            try await client.send(text: #"{"type":"echo_event","id":\#(id),"payload":{"text":"still here"}}"#)
            let answer = try await client.nextJSON(timeout: .seconds(30))
            #expect(answer["type"] as? String == "ack" && answer["id"] as? Int == id, "\(answer)")
            await client.close()
        }
    }

    @Test("a client that ignores rate_limited and keeps sending at 2 x the limit is closed with 4029 within a few seconds")
    func ignoringClientGoes() async throws {
        try await LibraryTestServer.run(configuration: Self.configuration) { server in
            let client = try await server.connect("rude")
            let start = ContinuousClock.now
            var id = 0
            // 100/s on average, whatever the answers say: each pass catches up with the
            // schedule, so a slow pass (a busy machine) does not lower the rate.
            while server.closeCodes.isEmpty, ContinuousClock.now - start < .seconds(20) {
                let due = Int((ContinuousClock.now - start) / .milliseconds(10))
                while id < due {
                    id += 1
                    try? await client.send(text: #"{"type":"echo_event","id":\#(id),"payload":{"text":"m"}}"#)
                }
                try await Task.sleep(for: .milliseconds(20))
            }
            let elapsed = ContinuousClock.now - start
            #expect(server.closeCodes.values.flatMap { $0 } == [.flood])
            // (burst 20 + refusalBurst 100) / (0.5 x 50/s) = 4.8 s; the margin is for a machine
            // busy with the rest of the suite (the exact count is InboundRateLimiter's test).
            #expect(elapsed < .seconds(15), "closed after \(elapsed)")
            #expect(try await client.nextClose() == 4029)
        }
    }
}
