/// Single-use, short-lived credentials for the WebSocket upgrade: a login issues one, the
/// upgrade redeems it once. One node keeps them in memory; a cluster keeps them where every
/// node can redeem them (a load balancer may send `/login` and `/ws` to different nodes).
public protocol TicketIssuer: Sendable {
    /// How long an issued ticket stays redeemable.
    var lifetime: Duration { get }
    func issue(for user: String) async throws -> String
    /// The ticket's user, if it exists and has not expired; used up either way.
    func redeem(_ ticket: String) async throws -> String?
}

extension TicketIssuer {
    /// A fresh ticket: 128 random bits from the system's CSPRNG, as 32 hex digits.
    public static func randomTicket() -> String {
        var generator = SystemRandomNumberGenerator()
        return (0..<2).map { _ in
            let hex = String(generator.next() as UInt64, radix: 16)
            return String(repeating: "0", count: 16 - hex.count) + hex
        }.joined()
    }
}
