/// The bounded outbound queue of one connection, as numbers.
///
/// On SwiftNIO the queue *is* the channel's pending writes: what was written but the kernel
/// has not taken yet. NIO reports that backlog in bytes; this type derives the message count
/// from it. Writes complete in order, so the pending bytes are always the newest ones: the
/// batches that still hold them are the queue's tail, and their message count bounds the
/// number of queued messages from above (a partly written batch counts whole), which errs on
/// the side of dropping a slow consumer a little early, never late.
public struct OutboundQueueAccounting: Sendable {
    public let maxMessages: Int
    public let maxBytes: Int

    /// Flushed batches that may still be pending, oldest first.
    private var batches: [(bytes: Int, messages: Int)] = []
    private var batchesHead = 0
    /// Messages and bytes written since the last flush.
    public private(set) var unflushedMessages = 0
    public private(set) var unflushedBytes = 0
    public private(set) var pendingMessages = 0
    public private(set) var pendingBytes = 0

    public init(maxMessages: Int, maxBytes: Int) {
        self.maxMessages = maxMessages
        self.maxBytes = maxBytes
    }

    public var queuedMessages: Int { pendingMessages + unflushedMessages }
    public var queuedBytes: Int { pendingBytes + unflushedBytes }

    /// Whether `messages` more messages (one, unless a run of frames is written as one) of
    /// `bytes` in all would exceed a limit.
    public func wouldOverflow(adding bytes: Int, messages: Int = 1) -> Bool {
        queuedMessages + messages > maxMessages || queuedBytes + bytes > maxBytes
    }

    public mutating func enqueued(bytes: Int, messages: Int = 1) {
        unflushedMessages += messages
        unflushedBytes += bytes
    }

    /// After a flush: `stillPending` is what the channel could not hand to the kernel yet.
    public mutating func flushed(stillPending: Int) {
        // The usual case, the kernel took everything: no batch to remember. This runs once
        // per delivery on the fan-out path.
        if stillPending <= 0 {
            unflushedMessages = 0
            unflushedBytes = 0
            observe(pendingBytes: 0)
            return
        }
        if unflushedMessages > 0 {
            batches.append((unflushedBytes, unflushedMessages))
            unflushedMessages = 0
            unflushedBytes = 0
        }
        observe(pendingBytes: stillPending)
    }

    /// The channel's backlog shrank (or grew) to `pendingBytes`.
    public mutating func observe(pendingBytes bytes: Int) {
        if bytes <= 0 {
            // Storage is released, not kept: most connections never back up, and an idle
            // one should not carry a buffer for it.
            if !batches.isEmpty { batches = [] }
            batchesHead = 0
            pendingBytes = 0
            pendingMessages = 0
            return
        }
        var totalBytes = 0
        var totalMessages = 0
        for index in batchesHead..<batches.count {
            totalBytes += batches[index].bytes
            totalMessages += batches[index].messages
        }
        // Drop the oldest batches whose bytes the kernel has already taken.
        while batchesHead < batches.count, totalBytes - batches[batchesHead].bytes >= bytes {
            totalBytes -= batches[batchesHead].bytes
            totalMessages -= batches[batchesHead].messages
            batchesHead += 1
        }
        // Drained batches are skipped by moving the head; removing each one from the front
        // would shift the whole array every time, quadratic for a consumer thousands of
        // batches behind. Compacting once the dead prefix is more than half the array moves
        // fewer live entries than were skipped (amortized O(1) per batch); the floor of 32
        // dead entries (512 bytes) spares a consumer only a few batches behind a shift on
        // nearly every flush.
        if batchesHead > 32, batchesHead * 2 > batches.count {
            batches.removeFirst(batchesHead)
            batchesHead = 0
        }
        pendingBytes = bytes
        pendingMessages = totalMessages
    }
}
