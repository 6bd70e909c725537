import Logging
import NIOConcurrencyHelpers

/// Runs connections' event handlers in one structured task group, owned by `Hub.run()`.
///
/// A connection gets a child task only while its inbox has events (see `ConnectionInbox`), so
/// 19,000 idle connections cost no tasks at all, and a busy one gets one task that handles
/// its events in order. Inbound events are not the hot path (one inbound message fans out to
/// a room), so a task per burst is cheap next to what it saves per idle connection.
final class EventDispatcher: Sendable {
    private enum Phase {
        case notStarted
        case running
        case finished
    }

    private let phase = NIOLockedValueBox(Phase.notStarted)
    private let warnedUnowned = NIOLockedValueBox(false)
    private let stream: AsyncStream<ConnectionInbox>
    private let continuation: AsyncStream<ConnectionInbox>.Continuation
    private let logger: Logger

    init(logger: Logger) {
        (stream, continuation) = AsyncStream.makeStream(of: ConnectionInbox.self)
        self.logger = logger
    }

    /// Starts draining `inbox` on a task.
    func schedule(_ inbox: ConnectionInbox) {
        let (queued, neverStarted) = phase.withLockedValue { phase -> (Bool, Bool) in
            switch phase {
            case .running:
                if case .enqueued = continuation.yield(inbox) { return (true, false) }
                return (false, false)
            case .notStarted:
                return (false, true)
            case .finished:
                return (false, false)
            }
        }
        guard !queued else { return }
        // The hub is not running (an application that did not add it to its services, or a
        // connection's last events after shutdown): the events are still handled, on a
        // task of their own, so nothing is silently lost.
        if neverStarted, warnedUnowned.withLockedValue({ warned in defer { warned = true }; return !warned }) {
            logger.warning("Hub is not running as a service: event handlers run on unstructured tasks; add the hub to the application's services")
        }
        Task { await inbox.drain() }
    }

    /// Drains scheduled inboxes until `finish()`, then waits for the handlers in flight.
    func run() async {
        phase.withLockedValue { $0 = .running }
        await withDiscardingTaskGroup { group in
            for await inbox in stream {
                group.addTask { await inbox.drain() }
            }
        }
    }

    func finish() {
        phase.withLockedValue { phase in
            phase = .finished
            continuation.finish()
        }
    }
}
