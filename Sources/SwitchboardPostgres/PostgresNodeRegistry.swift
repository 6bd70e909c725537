import Foundation
import Logging
import PostgresNIO
import Switchboard

/// This node's life in `switchboard_nodes`: a heartbeat every fifth of the node timeout,
/// a sweep that declares silent nodes dead (their users leave, announced once, on every
/// node), and the tables' housekeeping.
///
/// The timeout is the bound on how long a dead node's users linger. A node that dies right
/// after a heartbeat is declared dead by the first sweep after three fifths of the timeout
/// (a live node misses two beats before that), and sweeps run every fifth: its users leave
/// within four fifths of the timeout, plus a query's time (if another node has been in
/// contact with the database for a whole timeout: see `run`).
struct PostgresNodeRegistry: Sendable {
    let database: ClusterDatabase
    let nodeID: UUID
    let nodeName: String
    let nodeTimeout: Duration
    let presence: PostgresPresence
    let tickets: PostgresTicketStore
    let logger: Logger
    /// How long a resend's idempotency key is remembered: the protocol promises at least
    /// five minutes; twice that covers a client that retries late.
    static let idempotencyWindowSeconds = 600
    static let housekeepingInterval: Duration = .seconds(60)

    /// Registers this node's new life, purging the presence of a previous life with the same
    /// name (restarted, perhaps after `kill -9`) at once rather than after its timeout.
    static func register(_ connection: PostgresConnection, nodeID: UUID, name: String, logger: Logger) async throws {
        for try await purged in try await connection.query(
            "SELECT switchboard_register_node(\(nodeID), \(name))", logger: logger
        ).decode(Int.self) where purged > 0 {
            logger.notice("purged a previous life's presence", metadata: ["node": "\(name)", "entries": "\(purged)"])
        }
    }

    func run(hub: Hub) async {
        let beat = max(nodeTimeout / 5, .milliseconds(100))
        var sinceHousekeeping = Duration.zero
        // When the database comes back from an outage every node's last heartbeat is old:
        // the first node to sweep would declare all the others dead, and their users would
        // leave and come back. A node sweeps only once it has been in contact for a whole
        // timeout, by which time every live node has beaten again. (At start, too: a node
        // that just came up has no reason to be the first judge.)
        var inContactSince: ContinuousClock.Instant?
        while !Task.isCancelled {
            do {
                try await heartbeat(hub: hub)
                let contact = inContactSince ?? ContinuousClock.now
                inContactSince = contact
                if ContinuousClock.now - contact >= nodeTimeout { try await sweep() }
                sinceHousekeeping += beat
                if sinceHousekeeping >= Self.housekeepingInterval {
                    sinceHousekeeping = .zero
                    try await housekeeping()
                }
            } catch {
                inContactSince = nil
                logger.debug("node heartbeat failed", metadata: ["error": "\(String(reflecting: error))"])
            }
            try? await Task.sleep(for: beat)
        }
    }

    private func heartbeat(hub: Hub) async throws {
        let id = nodeID
        let alive = try await database.run { connection in
            var found = false
            for try await _ in try await connection.sql(
                "UPDATE switchboard_nodes SET heartbeat = now() WHERE id = \(id) RETURNING id"
            ).decode(UUID.self) {
                found = true
            }
            return found
        }
        guard !alive else { return }
        // The others declared this node dead (it could not reach the database for longer
        // than the timeout) and purged its presence: come back, and write it again.
        logger.warning("this node was declared dead by the cluster; registering again")
        let name = nodeName
        try await database.run { connection in
            _ = try await connection.sql("SELECT switchboard_register_node(\(id), \(name))")
        }
        presence.reassert(from: hub)
    }

    private func sweep() async throws {
        let silence = nodeTimeout * 0.6
        let seconds = Double(silence.components.seconds) + Double(silence.components.attoseconds) / 1e18
        let purged = try await database.run { connection in
            var purged = 0
            for try await count in try await connection.sql(
                "SELECT switchboard_sweep_nodes(\(seconds) * interval '1 second')"
            ).decode(Int.self) {
                purged = count
            }
            return purged
        }
        if purged > 0 { logger.notice("purged the presence of nodes that stopped", metadata: ["entries": "\(purged)"]) }
    }

    private func housekeeping() async throws {
        try await tickets.sweep()
        let window = Self.idempotencyWindowSeconds
        try await database.run { connection in
            _ = try await connection.sql(
                "DELETE FROM switchboard_idempotency WHERE created < now() - \(window) * interval '1 second'"
            )
        }
    }

    /// A graceful stop: this node's users leave now, not after the timeout.
    func deregister() async {
        let id = nodeID
        do {
            try await database.run { connection in
                _ = try await connection.sql("DELETE FROM switchboard_nodes WHERE id = \(id)")
                _ = try await connection.sql("SELECT switchboard_purge_node(\(id))")
            }
        } catch {
            logger.warning("could not deregister this node; the others will after its timeout", metadata: ["error": "\(String(reflecting: error))"])
        }
    }
}
