import Switchboard

/// How much history one reply may carry, in bytes of JSON. A join ack or `history` page is
/// one frame in the connection's outbound queue: without this bound a room of large messages
/// makes a reply bigger than the queue limit, and asking for it closes the asker with 4008.
struct HistoryBudget: Sendable {
    enum Keep { case oldest, newest }

    let bytes: Int

    /// A quarter of the outbound queue, at most 1 MiB: the reply fits beside what else is queued.
    init(maxQueuedBytes: Int) {
        bytes = min(1 << 20, maxQueuedBytes / 4)
    }

    /// The messages that fit, taken from the `keep` end (at least one, so paging always moves
    /// on), and whether any were left out.
    func fit(_ messages: [StoredMessage], keep: Keep) -> (messages: [StoredMessage], cut: Bool) {
        var used = 0
        var count = 0
        let ordered = keep == .oldest ? AnyCollection(messages) : AnyCollection(messages.reversed())
        for message in ordered {
            used += Self.encodedSizeBound(message)
            if used > bytes && count > 0 { break }
            count += 1
        }
        let kept = keep == .oldest ? Array(messages.prefix(count)) : Array(messages.suffix(count))
        return (kept, count < messages.count)
    }

    /// An upper bound of one history entry's JSON: every escapable byte counted at its longest
    /// escape (`\u0001` is six bytes for one), plus the keys, the timestamp and the `seq`.
    static func encodedSizeBound(_ message: StoredMessage) -> Int {
        96 + escapedSizeBound(message.room) + escapedSizeBound(message.from) + escapedSizeBound(message.message)
    }

    private static func escapedSizeBound(_ text: String) -> Int {
        var size = 0
        for byte in text.utf8 {
            switch byte {
            case 0..<0x20: size += 6
            case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"): size += 2
            default: size += 1
            }
        }
        return size
    }
}
