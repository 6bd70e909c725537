import NIOConcurrencyHelpers

/// Single-use, short-lived WebSocket tickets: `POST /login` issues one, `GET /ws?ticket=`
/// redeems it. 128 random bits from the system CSPRNG; redeeming removes the ticket under
/// a lock, so two concurrent upgrades with one ticket cannot both succeed.
public final class TicketStore: Sendable {
    private struct Entry {
        let user: String
        let expires: ContinuousClock.Instant
    }

    public let lifetime: Duration
    private let entries = NIOLockedValueBox<[String: Entry]>([:])

    public init(lifetime: Duration = .seconds(30)) {
        self.lifetime = lifetime
    }

    public func issue(for user: String) -> String {
        var generator = SystemRandomNumberGenerator()
        let ticket = (0..<2).map { _ in
            let value = generator.next() as UInt64
            let hex = String(value, radix: 16)
            return String(repeating: "0", count: 16 - hex.count) + hex
        }.joined()
        let now = ContinuousClock.now
        entries.withLockedValue { entries in
            // Expired tickets are swept as new ones are issued, so the table stays small.
            if entries.count > 1024 { entries = entries.filter { $0.value.expires > now } }
            entries[ticket] = Entry(user: user, expires: now + lifetime)
        }
        return ticket
    }

    /// The ticket's user, if the ticket exists and has not expired; it is used up either way.
    public func redeem(_ ticket: String) -> String? {
        guard let entry = entries.withLockedValue({ $0.removeValue(forKey: ticket) }) else { return nil }
        return entry.expires > ContinuousClock.now ? entry.user : nil
    }

    public var outstanding: Int { entries.withLockedValue { $0.count } }
}
