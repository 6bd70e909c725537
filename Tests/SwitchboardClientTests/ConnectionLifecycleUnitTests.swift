import Testing
@testable import SwitchboardClient

@Suite("ConnectionLifecycle")
struct ConnectionLifecycleUnitTests {
    let backoff = Backoff(initial: .seconds(1), maximum: .seconds(8))

    @Test func startConnectsOnce() {
        var lifecycle = ConnectionLifecycle(backoff: backoff)
        #expect(lifecycle.start() == .connect(attempt: 1))
        #expect(lifecycle.start() == .none)
    }

    @Test func failedAttemptsBackOffExponentiallyUpToTheMaximum() {
        var lifecycle = ConnectionLifecycle(backoff: backoff)
        _ = lifecycle.start()
        var delays: [Duration] = []
        for attempt in 1...6 {
            // randomUnit 1: the ceiling itself, to read the bounds off.
            guard case .wait(let next, let delay, _) = lifecycle.connectFailed(.transient("refused"), randomUnit: 1) else {
                Issue.record("attempt \(attempt) did not wait")
                return
            }
            #expect(next == attempt + 1)
            delays.append(delay)
            #expect(lifecycle.delayElapsed() == .connect(attempt: next))
        }
        #expect(delays == [.seconds(2), .seconds(4), .seconds(8), .seconds(8), .seconds(8), .seconds(8)])
    }

    @Test func jitterIsFullBetweenZeroAndTheCeiling() {
        #expect(backoff.delay(attempt: 3, unit: 0) == .zero)
        #expect(backoff.delay(attempt: 3, unit: 0.5) == .seconds(2))
        #expect(backoff.delay(attempt: 3, unit: 1) == .seconds(4))
        for _ in 0..<1000 {
            let delay = backoff.delay(attempt: 10, unit: .random(in: 0..<1))
            #expect(delay >= .zero && delay <= backoff.maximum)
        }
    }

    @Test func unauthorizedAndForbiddenStopWithoutRetrying() {
        for (failure, reason) in [(ConnectionLifecycle.ConnectFailure.unauthorized, DisconnectReason.unauthorized), (.forbidden, .forbidden)] {
            var lifecycle = ConnectionLifecycle(backoff: backoff)
            _ = lifecycle.start()
            #expect(lifecycle.connectFailed(failure, randomUnit: 0.5) == .stop(reason))
            #expect(lifecycle.state == .stopped(reason))
            #expect(lifecycle.delayElapsed() == .none)
        }
    }

    @Test func aLostConnectionReconnectsFromTheFirstAttemptAgain() {
        var lifecycle = ConnectionLifecycle(backoff: backoff)
        _ = lifecycle.start()
        _ = lifecycle.connectFailed(.transient("refused"), randomUnit: 1)
        _ = lifecycle.connectFailed(.transient("refused"), randomUnit: 1)  // ignored: not connecting
        _ = lifecycle.delayElapsed()
        _ = lifecycle.connected()
        #expect(lifecycle.state == .connected)
        let action = lifecycle.disconnected(.closed(.goingAway), randomUnit: 1)
        #expect(action == .wait(attempt: 1, delay: .seconds(1), reason: .closed(.goingAway)))
    }

    @Test func everyServerCloseCodeIsRetried() {
        for reason in [CloseReason.slowConsumer, .flood, .goingAway, .messageTooBig, .other(1011)] {
            var lifecycle = ConnectionLifecycle(backoff: backoff)
            _ = lifecycle.start()
            _ = lifecycle.connected()
            guard case .wait = lifecycle.disconnected(.closed(reason), randomUnit: 0) else {
                Issue.record("\(reason) was not retried")
                continue
            }
        }
    }

    @Test func attemptsRunOutWhenBounded() {
        var lifecycle = ConnectionLifecycle(backoff: backoff, maxAttempts: 2)
        _ = lifecycle.start()
        _ = lifecycle.connected()
        _ = lifecycle.disconnected(.connectionLost, randomUnit: 0)
        #expect(lifecycle.delayElapsed() == .connect(attempt: 1))
        guard case .wait = lifecycle.connectFailed(.transient("refused"), randomUnit: 0) else {
            Issue.record("second attempt not scheduled")
            return
        }
        #expect(lifecycle.delayElapsed() == .connect(attempt: 2))
        #expect(lifecycle.connectFailed(.transient("refused"), randomUnit: 0) == .stop(.gaveUp(attempts: 2)))
    }

    @Test func aSpentTicketIsNotReused() {
        var lifecycle = ConnectionLifecycle(backoff: backoff, canReconnect: false)
        _ = lifecycle.start()
        _ = lifecycle.connected()
        #expect(lifecycle.disconnected(.connectionLost, randomUnit: 0) == .stop(.ticketSpent))
    }

    @Test func closeStopsFromAnyStateOnce() {
        var lifecycle = ConnectionLifecycle(backoff: backoff)
        _ = lifecycle.start()
        _ = lifecycle.connectFailed(.transient("refused"), randomUnit: 0)
        #expect(lifecycle.close() == .stop(.closedByClient))
        #expect(lifecycle.close() == .none)
        #expect(lifecycle.delayElapsed() == .none)
    }
}
