import NIOConcurrencyHelpers
import NIOCore

/// Follows each broadcast message until the last member has it: the "time to all" of one
/// message is its latest delivery minus its send time, which no per-loop recorder can see
/// alone because the members are spread over all loops.
///
/// One message is in flight at a time and a message reaches each member once, so the lock is
/// taken about (members × messages) times over a whole run: far too rarely to matter.
final class BroadcastTracker: Sendable {
    struct Message: Sendable {
        let sentNanos: Int64
        let expected: Int
        var received = 0
        var lastArrivalNanos: Int64 = 0
        fileprivate var waiter: EventLoopPromise<Bool>?

        var complete: Bool { received >= expected }
        var timeToAllNanos: Int64? { complete ? lastArrivalNanos - sentNanos : nil }
    }

    private let messages = NIOLockedValueBox<[Int64: Message]>([:])

    /// Registers a message before it is written, so no delivery can arrive before it is known.
    func begin(sentNanos: Int64, expected: Int) {
        messages.withLockedValue { $0[sentNanos] = Message(sentNanos: sentNanos, expected: expected) }
    }

    @inline(__always)
    func delivered(sentNanos: Int64, at now: Int64) {
        let waiter = messages.withLockedValue { messages -> EventLoopPromise<Bool>? in
            guard var message = messages[sentNanos] else { return nil }
            message.received += 1
            message.lastArrivalNanos = max(message.lastArrivalNanos, now)
            var finished: EventLoopPromise<Bool>?
            if message.complete {
                finished = message.waiter
                message.waiter = nil
            }
            messages[sentNanos] = message
            return finished
        }
        waiter?.succeed(true)
    }

    /// Waits until every expected member has the message (true) or `timeout` passes (false).
    func waitForAll(sentNanos: Int64, timeout: TimeAmount, on eventLoop: any EventLoop) async -> Bool {
        let promise = eventLoop.makePromise(of: Bool.self)
        let alreadyComplete = messages.withLockedValue { messages -> Bool in
            guard var message = messages[sentNanos], !message.complete else { return true }
            message.waiter = promise
            messages[sentNanos] = message
            return false
        }
        if alreadyComplete { promise.succeed(true) }
        let timer = eventLoop.scheduleTask(in: timeout) { [self] in
            let waiter = messages.withLockedValue { messages -> EventLoopPromise<Bool>? in
                defer { messages[sentNanos]?.waiter = nil }
                return messages[sentNanos]?.waiter
            }
            waiter?.succeed(false)
        }
        let result = (try? await promise.futureResult.get()) ?? false
        timer.cancel()
        return result
    }

    /// Every message so far, in send order.
    func results() -> [Message] {
        messages.withLockedValue { Array($0.values) }.sorted { $0.sentNanos < $1.sentNanos }
    }
}
