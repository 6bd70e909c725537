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
    /// What the read side passes on: a message for the event handlers, or how the read side
    /// stopped, which the drain carries out once every message before it is handled.
    enum Entry: Sendable {
        case message(InboundMessage)
        case stop(ConnectionStateMachine.ReadStop)
    }

    private struct State {
        var pending = Deque<Entry>()
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
    func append(_ entry: Entry) -> Admission {
        state.withLockedValue { state in
            state.pending.append(entry)
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
    /// empty. The dispatcher calls it once per `schedule`. A read-side stop is carried out
    /// here, not by the router: the close goes through the outbox like every reply, so it
    /// comes after the replies to the messages before it.
    func drain() async {
        while let (entry, resumeReading) = next() {
            if resumeReading { connection.resumeReading() }
            switch entry {
            case .message(let message):
                await router.handle(message, from: connection, hub: hub, logger: logger)
            case .stop(.flood):
                connection.close(.flood, reason: "rate limit exceeded")
            case .stop(.violation(let code, let reason)):
                connection.fail(code, reason: reason)
            }
        }
    }

    /// The next event, or nil (and the inbox unscheduled, atomically with seeing it empty,
    /// so an append racing with the end of a drain always schedules a new one).
    private func next() -> (Entry, resumeReading: Bool)? {
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
