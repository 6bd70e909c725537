import Foundation
import Logging
import NIOCore
import PostgresNIO
import ServiceLifecycle
import Switchboard

/// Several nodes acting as one server over one PostgreSQL database: the durable store
/// (`store`), cluster-wide tickets (`tickets`) and presence (`presence`), and, once
/// `service(hub:…)` runs, the backplane that brings the other nodes' messages to this
/// node's hub.
///
/// ```swift
/// let cluster = try await PostgresCluster.connect(configuration: .init(url: url, nodeName: "a"), logger: logger)
/// let hub = Hub(onPresenceChange: cluster.presence.changed)
/// // handlers use cluster.store; services: [cluster.service(hub: hub, …), hub, app]
/// ```
public final class PostgresCluster: Sendable {
    public struct Configuration: Sendable {
        /// `postgres://user[:password]@host[:port]/database[?sslmode=disable|prefer|require]`
        public var url: String
        /// Names this node; a node restarted with the same name purges its previous life.
        public var nodeName: String
        /// Silence after which a node is declared dead and its users leave.
        public var nodeTimeout: Duration = .seconds(15)
        /// The bound on how late a message whose notification was lost arrives.
        public var pollInterval: Duration = .seconds(1)
        /// How long an event waits for the database before it is answered `unavailable`.
        public var queryTimeout: Duration = .seconds(5)
        /// Messages each room keeps (the database deletes older ones in the append).
        public var roomRetention = 1000
        public var ticketLifetime: Duration = .seconds(30)
        /// Pooled connections (the listener has its own).
        public var maxConnections = 16
        /// How long `connect` keeps trying a database that does not answer yet.
        public var startTimeout: Duration = .seconds(30)

        public init(url: String, nodeName: String) {
            self.url = url
            self.nodeName = nodeName
        }
    }

    public let configuration: Configuration
    public let nodeID: UUID
    public let database: ClusterDatabase
    public let store: PostgresRoomStore
    public let tickets: PostgresTicketStore
    public let presence: PostgresPresence
    let url: PostgresURL
    let logger: Logger
    let eventLoopGroup: any EventLoopGroup

    private init(configuration: Configuration, url: PostgresURL, nodeID: UUID, eventLoopGroup: any EventLoopGroup, logger: Logger) {
        self.configuration = configuration
        self.eventLoopGroup = eventLoopGroup
        self.url = url
        self.nodeID = nodeID
        self.logger = logger
        var poolConfiguration = url.clientConfiguration(applicationName: "switchboard")
        poolConfiguration.options.maximumConnections = configuration.maxConnections
        poolConfiguration.options.connectTimeout = configuration.queryTimeout
        // The pool logs every failed connection attempt at info: a flood while the database
        // is down, which the node's own "database unreachable" already says once.
        var poolLogger = logger
        if poolLogger.logLevel > .debug { poolLogger.logLevel = max(poolLogger.logLevel, .warning) }
        database = ClusterDatabase(
            client: PostgresClient(configuration: poolConfiguration, eventLoopGroup: eventLoopGroup, backgroundLogger: poolLogger),
            timeout: configuration.queryTimeout, eventLoop: eventLoopGroup.any(), logger: logger
        )
        store = PostgresRoomStore(database: database, maxMessagesPerRoom: configuration.roomRetention)
        tickets = PostgresTicketStore(database: database, lifetime: configuration.ticketLifetime)
        presence = PostgresPresence(database: database, nodeID: nodeID, logger: logger)
    }

    /// Connects, creates or migrates the schema (safe when several nodes start at once) and
    /// registers this node. Retries with backoff for `startTimeout` (a database that is
    /// still starting), then throws.
    ///
    /// `eventLoopGroup`: where the database connections live. Give it the server's own
    /// group, so a query's answer and the WebSocket writes it leads to share threads instead
    /// of crossing between two groups' threads for every message.
    public static func connect(
        configuration: Configuration, eventLoopGroup: any EventLoopGroup = PostgresClient.defaultEventLoopGroup, logger: Logger
    ) async throws -> PostgresCluster {
        let url = try PostgresURL(configuration.url)
        let nodeID = UUID()
        let deadline = ContinuousClock.now + configuration.startTimeout
        let backoff = Backoff(base: .milliseconds(200), maximum: .seconds(2))
        var attempt = 0
        while true {
            attempt += 1
            do {
                let connection = try await PostgresConnection.connect(
                    on: eventLoopGroup.any(),
                    configuration: try url.connectionConfiguration(applicationName: "switchboard"), id: 0, logger: logger
                )
                do {
                    try await PostgresSchema.migrate(connection, logger: logger)
                    try await PostgresNodeRegistry.register(connection, nodeID: nodeID, name: configuration.nodeName, logger: logger)
                } catch {
                    try? await connection.close()
                    throw error
                }
                try? await connection.close()
                break
            } catch {
                guard ContinuousClock.now < deadline, ClusterDatabase.meansUnreachable(error) else {
                    throw PostgresClusterError("could not set up the cluster database at \(PostgresURL.redacted(configuration.url)): \(String(reflecting: error))")
                }
                logger.warning("database not reachable yet; retrying", metadata: ["attempt": "\(attempt)", "error": "\(String(reflecting: error))"])
                try await Task.sleep(for: backoff.delay(attempt: attempt))
            }
        }
        logger.notice("joined the cluster", metadata: ["node": "\(configuration.nodeName)", "id": "\(nodeID)"])
        return PostgresCluster(configuration: configuration, url: url, nodeID: nodeID, eventLoopGroup: eventLoopGroup, logger: logger)
    }

    /// The service that runs the pool, the backplane, the presence writer and the heartbeat,
    /// delivering to `hub`. List it before the hub and the HTTP server: services stop in
    /// reverse order, so on shutdown the connections drain first, then this node leaves the
    /// cluster (its users leave everywhere at once).
    public func service(
        hub: Hub,
        messageFrame: @escaping @Sendable (StoredMessage) -> OutboundFrame,
        presenceFrame: @escaping @Sendable (PresenceChange) -> OutboundFrame?
    ) -> PostgresClusterService {
        PostgresClusterService(cluster: self, hub: hub, messageFrame: messageFrame, presenceFrame: presenceFrame)
    }

    var registry: PostgresNodeRegistry {
        PostgresNodeRegistry(
            database: database, nodeID: nodeID, nodeName: configuration.nodeName, nodeTimeout: configuration.nodeTimeout,
            presence: presence, tickets: tickets, logger: logger
        )
    }
}
