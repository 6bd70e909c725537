import NIOCore
import ServiceLifecycle

/// Shuts down the event-loop group that `ChatServer` created, once the server has stopped.
///
/// Listed first in the service group, so it shuts down last: after the hub's drain, the HTTP
/// server and the hub's event handlers, which all still need the loops. Without it, every
/// `ChatServer` with its own thread count left its threads running after it stopped.
struct EventLoopGroupService: Service {
    /// Nil when the group is shared (NIO's singleton), which is not ours to shut down.
    let ownedGroup: (any EventLoopGroup)?

    func run() async throws {
        // Suspends until graceful shutdown begins (or the group is cancelled).
        try? await gracefulShutdown()
        try await ownedGroup?.shutdownGracefully()
    }
}
