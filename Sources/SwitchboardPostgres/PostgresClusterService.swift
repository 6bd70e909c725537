import Logging
import ServiceLifecycle
import Switchboard

/// Runs a `PostgresCluster` for one hub (see `PostgresCluster.service`).
///
/// Two services in a group of their own, because they must stop in order: the node leaves
/// the cluster (deregisters, its last presence news written) while the connection pool is
/// still open, and only then does the pool close. As children of one task they would see
/// the same graceful shutdown at once, and `PostgresClient.run()` shuts its pool down on it:
/// the deregistration then failed with `poolShutdown` on every graceful stop, and the other
/// nodes dropped this node's users only after its timeout. A `ServiceGroup` stops its
/// services one by one in reverse order, and follows the graceful shutdown of its parent.
public struct PostgresClusterService: Service {
    let cluster: PostgresCluster
    let hub: Hub
    let messageFrame: @Sendable (StoredMessage) -> OutboundFrame
    let presenceFrame: @Sendable (PresenceChange) -> OutboundFrame?

    public func run() async throws {
        let backplane = PostgresBackplane(
            url: cluster.url, store: cluster.store, presence: cluster.presence, database: cluster.database, hub: hub,
            messageFrame: messageFrame, presenceFrame: presenceFrame,
            pollInterval: cluster.configuration.pollInterval, eventLoopGroup: cluster.eventLoopGroup, logger: cluster.logger
        )
        let membership = Membership(backplane: backplane, presence: cluster.presence, registry: cluster.registry, hub: hub)
        let services = ServiceGroup(configuration: .init(
            services: [.init(service: cluster.database.client), .init(service: membership)],
            logger: cluster.logger
        ))
        try await services.run()
    }

    /// This node in the cluster: the backplane, presence and the node registry, for as long
    /// as the pool they use is open.
    private struct Membership: Service {
        let backplane: PostgresBackplane
        let presence: PostgresPresence
        let registry: PostgresNodeRegistry
        let hub: Hub

        func run() async {
            await withDiscardingTaskGroup { group in
                group.addTask { await backplane.run() }
                group.addTask { await presence.run(hub: hub) }
                group.addTask { await registry.run(hub: hub) }
                try? await gracefulShutdown()
                await registry.deregister()
                presence.finish()
                group.cancelAll()
            }
        }
    }
}
