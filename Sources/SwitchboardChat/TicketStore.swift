import DequeModule
import NIOConcurrencyHelpers
import Switchboard

/// Single-use, short-lived WebSocket tickets: `POST /login` issues one, `GET /ws?ticket=`
/// redeems it. 128 random bits from the system CSPRNG; redeeming removes the ticket under
/// a lock, so two concurrent upgrades with one ticket cannot both succeed.
///
/// Every ticket lives for the same `lifetime`, so tickets expire in the order they were
/// issued: a FIFO of issue order finds the expired ones at its front, and each issue sweeps
/// only those. Issue, redeem and expiry are O(1) amortised, however many tickets a login
/// flood leaves outstanding.
public final class TicketStore: TicketIssuer {
    private struct Entry {
        let user: String
        let expires: ContinuousClock.Instant
    }

    /// Tickets are kept as their bits, not their text: 16 bytes in place of a heap-allocated
    /// string each, held until expiry even once redeemed (a connect storm's RSS per
    /// connection included 136 bytes of outstanding ticket text; BENCHMARKS.md).
    private struct State {
        var entries: [UInt128: Entry] = [:]
        /// Tickets in issue (and so expiry) order. A redeemed ticket stays here until its
        /// expiry comes round; removing it from the middle would cost O(n).
        var issueOrder: Deque<(ticket: UInt128, expires: ContinuousClock.Instant)> = []
        var entropy = TicketEntropy()

        mutating func sweep(now: ContinuousClock.Instant) {
            while let oldest = issueOrder.first, oldest.expires <= now {
                issueOrder.removeFirst()
                entries.removeValue(forKey: oldest.ticket)
            }
        }
    }

    public let lifetime: Duration
    private let state = NIOLockedValueBox(State())

    public init(lifetime: Duration = .seconds(30)) {
        self.lifetime = lifetime
    }

    public func issue(for user: String) -> String {
        let now = ContinuousClock.now
        let expires = now + lifetime
        let ticket = state.withLockedValue { state in
            state.sweep(now: now)
            let ticket = state.entropy.next()
            state.entries[ticket] = Entry(user: user, expires: expires)
            state.issueOrder.append((ticket, expires))
            return ticket
        }
        return Self.ticketText(ticket)
    }

    /// The ticket's user, if the ticket exists and has not expired; it is used up either way.
    public func redeem(_ ticket: String) -> String? {
        guard let bits = Self.ticketBits(ticket),
            let entry = state.withLockedValue({ $0.entries.removeValue(forKey: bits) })
        else { return nil }
        return entry.expires > ContinuousClock.now ? entry.user : nil
    }

    /// Tickets issued and neither redeemed nor swept yet.
    public var outstanding: Int { state.withLockedValue { $0.entries.count } }
}
