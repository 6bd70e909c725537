import Switchboard
import SwitchboardChat
import Testing

@Suite("Ticket store")
struct TicketStoreUnitTests {
    @Test("a ticket redeems once, for its user; an unknown one not at all")
    func singleUse() {
        let store = TicketStore()
        let ticket = store.issue(for: "alice")
        #expect(store.redeem("0123456789abcdef0123456789abcdef") == nil)
        #expect(store.redeem(ticket) == "alice")
        #expect(store.redeem(ticket) == nil)
        #expect(store.outstanding == 0)
    }

    @Test("a ticket is 32 lowercase hex digits; any other spelling of it (upper case, padded, cut, with a sign) does not redeem")
    func ticketSpelling() {
        let store = TicketStore()
        let ticket = store.issue(for: "alice")
        #expect(ticket.count == 32)
        #expect(ticket.allSatisfy { $0.isHexDigit && !$0.isUppercase })
        for variant in [ticket.uppercased(), "0" + ticket, String(ticket.dropLast()), "+" + ticket.dropFirst(), ticket + " ", ""] {
            #expect(variant == ticket || store.redeem(variant) == nil, "\(variant)")
        }
        #expect(store.redeem(ticket) == "alice")
        // Leading zeros are part of the ticket: the text round-trips through its bits.
        #expect(TicketStore.ticketText(TicketStore.ticketBits("000000000000000000000000000000ff")!) == "000000000000000000000000000000ff")
    }

    @Test("a ticket's text is its 128 bits as 32 hex digits, zero-padded, for the extremes and 10,000 random values")
    func ticketTextMatchesRadixSixteen() {
        var generator = SystemRandomNumberGenerator()
        let samples: [UInt128] = [0, 1, 0xF, 0xA << 124, .max, UInt128(UInt64.max)]
            + (0..<10_000).map { _ in UInt128(generator.next() as UInt64) << 64 | UInt128(generator.next() as UInt64) >> (generator.next() as UInt64 % 64) }
        for bits in samples {
            let radix = String(bits, radix: 16)
            let expected = String(repeating: "0", count: 32 - radix.count) + radix
            #expect(TicketStore.ticketText(bits) == expected)
            #expect(TicketStore.ticketBits(TicketStore.ticketText(bits)) == bits)
        }
    }

    @Test("ticket entropy: 100,000 draws across many refills are distinct, and their bits are balanced")
    func entropyIsDistinctAndBalanced() {
        var entropy = TicketEntropy()
        var seen = Set<UInt128>()
        var ones = 0
        for _ in 0..<100_000 {
            let bits = entropy.next()
            seen.insert(bits)
            ones += bits.nonzeroBitCount
        }
        #expect(seen.count == 100_000)
        // 12.8 M bits: a fair source lands within a few thousand of half (σ ≈ 1,800).
        #expect(abs(ones - 6_400_000) < 20_000, "\(ones) ones")
    }

    @Test("an expired ticket does not redeem, and issuing sweeps expired tickets away")
    func expiry() async throws {
        let store = TicketStore(lifetime: .milliseconds(100))
        let stale = (0..<3000).map { _ in store.issue(for: "old") }
        try await Task.sleep(for: .milliseconds(200))
        #expect(store.redeem(stale[0]) == nil)
        let fresh = store.issue(for: "new")
        #expect(store.outstanding == 1)
        #expect(store.redeem(fresh) == "new")
    }

    // With the old whole-table sweep on every issue past 1,024 outstanding tickets, 50,000
    // logins within one ticket lifetime took O(n²): about four minutes in a debug build,
    // against about a second now (the bound leaves room for ThreadSanitizer).
    @Test("50,000 outstanding tickets: issuing and redeeming stay O(1) per ticket", .timeLimit(.minutes(1)))
    func loginFlood() {
        let store = TicketStore(lifetime: .seconds(600))
        let clock = ContinuousClock()
        var tickets: [String] = []
        tickets.reserveCapacity(50_000)
        let elapsed = clock.measure {
            for _ in 0..<50_000 { tickets.append(store.issue(for: "flood")) }
        }
        #expect(store.outstanding == 50_000)
        #expect(elapsed < .seconds(30), "issuing 50,000 tickets took \(elapsed)")
        #expect(tickets.allSatisfy { store.redeem($0) == "flood" })
        #expect(store.outstanding == 0)
    }
}
