import Foundation
import PostgresNIO
import Switchboard

/// Tickets in the cluster's database: issued on one node, redeemable once on any.
///
/// Redeeming is a `DELETE ... RETURNING`: of two nodes redeeming one ticket at once, exactly
/// one gets the row. Expiry uses the database's clock, so nodes' clocks need not agree.
public struct PostgresTicketStore: TicketIssuer {
    let database: ClusterDatabase
    public let lifetime: Duration

    public func issue(for user: String) async throws -> String {
        let ticket = Self.randomTicket()
        let milliseconds = Int(lifetime.components.seconds * 1000 + lifetime.components.attoseconds / 1_000_000_000_000_000)
        try await database.run { connection in
            _ = try await connection.sql(
                "INSERT INTO switchboard_tickets (ticket, username, expires) VALUES (\(ticket), \(user), now() + \(milliseconds) * interval '1 millisecond')"
            )
        }
        return ticket
    }

    public func redeem(_ ticket: String) async throws -> String? {
        try await database.run { connection in
            for try await (user, valid) in try await connection.sql(
                "DELETE FROM switchboard_tickets WHERE ticket = \(ticket) RETURNING username, expires > now()"
            ).decode((String, Bool).self) {
                return valid ? user : nil
            }
            return nil
        }
    }

    /// Drops expired tickets nobody redeemed.
    func sweep() async throws {
        try await database.run { connection in
            _ = try await connection.sql("DELETE FROM switchboard_tickets WHERE expires < now()")
        }
    }
}
