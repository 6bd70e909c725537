import DequeModule
import Logging
import NIOConcurrencyHelpers

/// A connection's inbound events on their way from its event loop to its event handlers.
///
/// The read side appends on the event loop; a handler task takes them out in order, one at a
/// time, and exists only while there is something to take: an idle connection owns no Swift
/// task, no task stack and no async sequence (each of those cost more than the rest of the
/// connection together). The lock is held for an append or a removal, never across an
/// `await`.
///
/// Backpressure is by count: at `highWatermark` buffered events the read side stops reading
/// the socket (the peer's TCP window then fills), and at `lowWatermark` it reads again.
final class ConnectionInbox: Sendable {
    private struct State {
        var pending = Deque<InboundMessage>()
        /// A handler task is running or about to run for this inbox.
        var scheduled = false
        var readingPaused = false
    }

    /// What the read side must do after an append.
    struct Admission: Equatable {
        /// Hand the inbox to the dispatcher: no task is draining it.
        var schedule: Bool
        /// Stop reading the socket until told otherwise.
        var pauseReading: Bool
    }

    // A pthread lock (NIO's), not Synchronization's `Mutex`: TSan cannot see the `Mutex`'s
    // futex and reported every append/pop pair as a race.
    private let state = NIOLockedValueBox(State())
    let connection: Connection
    let router: EventRouter
    let hub: Hub
    let logger: Logger
    let lowWatermark: Int
    let highWatermark: Int

    init(connection: Connection, router: EventRouter, hub: Hub, logger: Logger, bufferedMessages: Int) {
        self.connection = connection
        self.router = router
        self.hub = hub
        self.logger = logger
        self.highWatermark = max(1, bufferedMessages)
        self.lowWatermark = max(0, bufferedMessages / 2)
    }

    /// Called by the read side, on the event loop.
    func append(_ message: InboundMessage) -> Admission {
        state.withLockedValue { state in
            state.pending.append(message)
            var admission = Admission(schedule: !state.scheduled, pauseReading: false)
            state.scheduled = true
            if !state.readingPaused, state.pending.count >= highWatermark {
                state.readingPaused = true
                admission.pauseReading = true
            }
            return admission
        }
    }

    /// Runs the handlers for everything pending, in order, and returns when the inbox is
    /// empty. The dispatcher calls it once per `schedule`.
    func drain() async {
        while let (message, resumeReading) = next() {
            if resumeReading { connection.resumeReading() }
            await router.handle(message, from: connection, hub: hub, logger: logger)
        }
    }

    /// The next event, or nil (and the inbox unscheduled, atomically with seeing it empty,
    /// so an append racing with the end of a drain always schedules a new one).
    private func next() -> (InboundMessage, resumeReading: Bool)? {
        state.withLockedValue { state in
            guard let message = state.pending.popFirst() else {
                state.scheduled = false
                // An emptied deque keeps its storage; an idle connection should not.
                state.pending = Deque()
                return nil
            }
            var resume = false
            if state.readingPaused, state.pending.count <= lowWatermark {
                state.readingPaused = false
                resume = true
            }
            return (message, resume)
        }
    }

    var pendingCount: Int { state.withLockedValue { $0.pending.count } }
}
