import HTTPTypes
import NIOCore

/// Where the application decides whether a request may become a WebSocket connection.
public enum UpgradeGate: Sendable {
    /// On the connection's event loop, with no task: for checks that need no I/O, such as
    /// redeeming an in-memory ticket or matching an origin list. It must not block or wait.
    /// This is the cheaper gate: a task per upgrade costs two thread hand-offs per connect
    /// (to a concurrency thread and back to the event loop), about a tenth of a connect's
    /// server CPU (BENCHMARKS.md, connect cost).
    case onEventLoop(@Sendable (HTTPRequest, any Channel) -> UpgradeDecision)
    /// On a task, for checks that have to wait (a database, another service).
    case async(SwitchboardChannel.ShouldUpgrade)
}
