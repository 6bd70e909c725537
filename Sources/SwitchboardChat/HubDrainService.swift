import ServiceLifecycle
import Switchboard

/// Graceful shutdown of the WebSocket side, under swift-service-lifecycle.
///
/// Listed after the HTTP server in the service group, so on SIGTERM/SIGINT it shuts down
/// first: `/healthz` turns 503, new upgrades are refused, every connection gets 1001 after
/// what is already queued for it, and the peers get `drainTimeout` to finish the close
/// handshake. Only then does the HTTP server stop.
struct HubDrainService: Service {
    let hub: Hub
    let state: ChatState
    let drainTimeout: Duration

    func run() async throws {
        // Suspends until graceful shutdown begins (or the group is cancelled).
        try? await gracefulShutdown()
        state.beginDraining()
        await hub.shutdown(code: .goingAway, reason: "server shutting down", drainTimeout: drainTimeout)
    }
}
