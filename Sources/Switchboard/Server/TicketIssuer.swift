#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

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
        ticketText(randomTicketBits())
    }

    /// 128 random bits from the system's CSPRNG, in one call (`SystemRandomNumberGenerator`
    /// makes one `getrandom` per 64 bits): a ticket before it is written out. Stores that keep
    /// tickets in memory keep these 16 bytes instead of the text, which would be a heap
    /// allocation per outstanding ticket (32 characters do not fit in a small string); a
    /// store that issues many draws them from a `TicketEntropy` instead.
    public static func randomTicketBits() -> UInt128 {
        var bits: UInt128 = 0
        withUnsafeMutableBytes(of: &bits) { arc4random_buf($0.baseAddress!, $0.count) }
        return bits
    }

    /// The 32 lowercase hex digits of a ticket, written straight into the string's storage:
    /// `String(_:radix:)` on a 128-bit integer divides its way through the digits and was
    /// 3.6 % of a login's CPU (perf, BENCHMARKS.md ninth session).
    public static func ticketText(_ bits: UInt128) -> String {
        String(unsafeUninitializedCapacity: 32) { text in
            var rest = bits
            for index in stride(from: 31, through: 0, by: -1) {
                let digit = UInt8(truncatingIfNeeded: rest & 0xF)
                text[index] = digit < 10 ? UInt8(ascii: "0") + digit : UInt8(ascii: "a") + digit - 10
                rest >>= 4
            }
            return 32
        }
    }

    /// The bits of a ticket's text; nil unless it is exactly 32 lowercase hex digits, the only
    /// form `ticketText` writes.
    public static func ticketBits(_ text: some StringProtocol) -> UInt128? {
        var bits: UInt128 = 0
        var digits = 0
        for byte in text.utf8 {
            let value: UInt8
            switch byte {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): value = byte - UInt8(ascii: "0")
            case UInt8(ascii: "a")...UInt8(ascii: "f"): value = byte - UInt8(ascii: "a") + 10
            default: return nil
            }
            digits += 1
            guard digits <= 32 else { return nil }
            bits = bits << 4 | UInt128(value)
        }
        return digits == 32 ? bits : nil
    }
}

/// Random ticket bits from the system's CSPRNG, drawn 16 tickets (256 bytes, one `getrandom`)
/// at a time: two 64-bit draws per ticket were two system calls per login, about 4 of its
/// 9 µs of kernel time (strace and wrk, BENCHMARKS.md ninth session). Not thread-safe: keep
/// it with the state its store guards.
public struct TicketEntropy: Sendable {
    static let batch = 16
    private var pool: [UInt128] = []

    public init() {}

    public mutating func next() -> UInt128 {
        if pool.isEmpty {
            pool = [UInt128](repeating: 0, count: Self.batch)
            pool.withUnsafeMutableBytes { arc4random_buf($0.baseAddress!, $0.count) }
        }
        return pool.removeLast()
    }
}
