/// Puts a room's messages back into `seq` order before they are delivered.
///
/// `seq` is assigned by the store (an async call, and later a database), so two senders may
/// come back from it in the other order. The sequencer holds a message until every lower
/// `seq` has been delivered, so every member sees the room in `seq` order with no gaps.
public struct RoomSequencer<Message>: Sendable where Message: Sendable {
    public private(set) var lastDelivered: Int
    private var held: [Int: Message] = [:]

    public init(lastDelivered: Int) {
        self.lastDelivered = lastDelivered
    }

    /// Messages waiting for a lower `seq`.
    public var heldCount: Int { held.count }

    /// Accepts message `seq`; returns the messages now deliverable, in order. A `seq` already
    /// delivered is a duplicate and is dropped.
    public mutating func accept(seq: Int, _ message: Message) -> [Message] {
        guard seq > lastDelivered else { return [] }
        guard seq == lastDelivered + 1 else {
            held[seq] = message
            return []
        }
        var ready = [message]
        lastDelivered = seq
        while let next = held.removeValue(forKey: lastDelivered + 1) {
            ready.append(next)
            lastDelivered += 1
        }
        return ready
    }
}
