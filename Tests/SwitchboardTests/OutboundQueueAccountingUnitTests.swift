import Testing
@testable import Switchboard

@Suite("OutboundQueueAccounting")
struct OutboundQueueAccountingUnitTests {
    @Test func startsEmpty() {
        let queue = OutboundQueueAccounting(maxMessages: 3, maxBytes: 1000)
        #expect(queue.queuedMessages == 0)
        #expect(queue.queuedBytes == 0)
        #expect(!queue.wouldOverflow(adding: 1000))
        #expect(queue.wouldOverflow(adding: 1001))
    }

    @Test func messageLimitOverflowsOnlyPastTheLimit() {
        var queue = OutboundQueueAccounting(maxMessages: 3, maxBytes: 1_000_000)
        queue.enqueued(bytes: 1)
        queue.enqueued(bytes: 1)
        // Two queued: a third reaches the limit exactly, which is allowed.
        #expect(!queue.wouldOverflow(adding: 1))
        queue.enqueued(bytes: 1)
        #expect(queue.queuedMessages == 3)
        #expect(queue.wouldOverflow(adding: 0))
        #expect(queue.wouldOverflow(adding: 1))
    }

    @Test func byteLimitOverflowsOnlyPastTheLimit() {
        var queue = OutboundQueueAccounting(maxMessages: 100, maxBytes: 1000)
        queue.enqueued(bytes: 600)
        #expect(!queue.wouldOverflow(adding: 400))
        #expect(queue.wouldOverflow(adding: 401))
        queue.enqueued(bytes: 400)
        #expect(queue.queuedBytes == 1000)
        #expect(!queue.wouldOverflow(adding: 0))
        #expect(queue.wouldOverflow(adding: 1))
    }

    @Test func limitsCountPendingAndUnflushedTogether() {
        var queue = OutboundQueueAccounting(maxMessages: 4, maxBytes: 1000)
        queue.enqueued(bytes: 300)
        queue.enqueued(bytes: 300)
        queue.flushed(stillPending: 600)
        queue.enqueued(bytes: 300)
        #expect(queue.pendingMessages == 2)
        #expect(queue.pendingBytes == 600)
        #expect(queue.unflushedMessages == 1)
        #expect(queue.unflushedBytes == 300)
        #expect(queue.queuedMessages == 3)
        #expect(queue.queuedBytes == 900)
        #expect(!queue.wouldOverflow(adding: 100))
        #expect(queue.wouldOverflow(adding: 101))
        queue.enqueued(bytes: 10)
        #expect(queue.wouldOverflow(adding: 0))  // a fifth message
    }

    @Test func flushWithNothingPendingEmptiesTheQueue() {
        var queue = OutboundQueueAccounting(maxMessages: 3, maxBytes: 1000)
        queue.enqueued(bytes: 500)
        queue.enqueued(bytes: 400)
        queue.enqueued(bytes: 100)
        #expect(queue.wouldOverflow(adding: 0))
        queue.flushed(stillPending: 0)
        #expect(queue.queuedMessages == 0)
        #expect(queue.queuedBytes == 0)
        #expect(queue.unflushedMessages == 0)
        #expect(queue.pendingMessages == 0)
        #expect(!queue.wouldOverflow(adding: 1000))
    }

    @Test func partiallyWrittenFlushCountsTheWholeBatch() {
        var queue = OutboundQueueAccounting(maxMessages: 100, maxBytes: 10_000)
        for _ in 0..<3 { queue.enqueued(bytes: 100) }
        queue.flushed(stillPending: 120)
        #expect(queue.unflushedMessages == 0)
        #expect(queue.pendingBytes == 120)
        // Only one batch: all three messages may still be queued, the upper bound.
        #expect(queue.pendingMessages == 3)
    }

    @Test func pendingBytesAreTheNewestBatchesAndTheirCountsBoundTheQueue() {
        var queue = OutboundQueueAccounting(maxMessages: 100, maxBytes: 10_000)
        for _ in 0..<3 { queue.enqueued(bytes: 100) }  // batch A: 3 messages, 300 bytes
        queue.flushed(stillPending: 300)
        for _ in 0..<2 { queue.enqueued(bytes: 50) }  // batch B: 2 messages, 100 bytes
        queue.flushed(stillPending: 400)
        #expect(queue.pendingMessages == 5)
        #expect(queue.pendingBytes == 400)

        // 150 bytes left: all of B and 50 bytes of A, so A still counts.
        queue.observe(pendingBytes: 150)
        #expect(queue.pendingMessages == 5)
        #expect(queue.pendingBytes == 150)

        // Exactly B's 100 bytes left: A was taken whole and is dropped.
        queue.observe(pendingBytes: 100)
        #expect(queue.pendingMessages == 2)
        #expect(queue.pendingBytes == 100)

        // Part of B left: B still counts whole.
        queue.observe(pendingBytes: 1)
        #expect(queue.pendingMessages == 2)

        queue.observe(pendingBytes: 0)
        #expect(queue.pendingMessages == 0)
        #expect(queue.pendingBytes == 0)
        #expect(queue.queuedMessages == 0)
    }

    @Test func flushWithoutNewMessagesOnlyUpdatesTheBacklog() {
        var queue = OutboundQueueAccounting(maxMessages: 100, maxBytes: 10_000)
        queue.enqueued(bytes: 100)
        queue.enqueued(bytes: 100)
        queue.flushed(stillPending: 200)
        queue.enqueued(bytes: 10)
        queue.flushed(stillPending: 210)
        // An empty flush must not add an empty batch nor lose the existing ones.
        queue.flushed(stillPending: 150)
        #expect(queue.pendingMessages == 3)
        queue.flushed(stillPending: 10)
        #expect(queue.pendingMessages == 1)
        #expect(queue.pendingBytes == 10)
    }

    @Test func emptyingTheBacklogThenRefillingStartsFromScratch() {
        var queue = OutboundQueueAccounting(maxMessages: 100, maxBytes: 10_000)
        for _ in 0..<5 { queue.enqueued(bytes: 20) }
        queue.flushed(stillPending: 100)
        queue.observe(pendingBytes: 0)
        queue.enqueued(bytes: 30)
        queue.flushed(stillPending: 30)
        // The old batch must be gone: only the new message is pending.
        #expect(queue.pendingMessages == 1)
        #expect(queue.pendingBytes == 30)
    }

    @Test func manyBatchesDrainedGraduallyKeepAnExactUpperBound() {
        // One 10-byte message per flush, 200 flushes, nothing written to the kernel meanwhile.
        var queue = OutboundQueueAccounting(maxMessages: 10_000, maxBytes: 1_000_000)
        for index in 1...200 {
            queue.enqueued(bytes: 10)
            queue.flushed(stillPending: index * 10)
            #expect(queue.pendingMessages == index)
        }
        // The kernel takes 7 bytes at a time: the pending count is the number of batches
        // that still hold at least one byte, i.e. ceil(pending / 10).
        var pending = 2000
        while pending > 0 {
            pending = max(0, pending - 7)
            queue.observe(pendingBytes: pending)
            #expect(queue.pendingBytes == pending)
            #expect(queue.pendingMessages == (pending + 9) / 10, "pending \(pending)")
        }
        #expect(queue.queuedMessages == 0)
        // Refill after the drain: the compaction of old batches must not resurrect them.
        queue.enqueued(bytes: 10)
        queue.flushed(stillPending: 10)
        #expect(queue.pendingMessages == 1)
    }

    @Test func compactionAfterManyDrainedBatchesKeepsTheTailCounts() {
        var queue = OutboundQueueAccounting(maxMessages: 10_000, maxBytes: 1_000_000)
        // 100 batches of 3 messages, 30 bytes each.
        for index in 1...100 {
            for _ in 0..<3 { queue.enqueued(bytes: 10) }
            queue.flushed(stillPending: index * 30)
        }
        // Drain to the last 10 batches (forces the head past 32 and a compaction).
        queue.observe(pendingBytes: 300)
        #expect(queue.pendingMessages == 30)
        // New batches after the compaction are appended to the kept tail.
        for _ in 0..<2 { queue.enqueued(bytes: 5) }
        queue.flushed(stillPending: 310)
        #expect(queue.pendingMessages == 32)
        queue.observe(pendingBytes: 40)  // the last 30-byte batch + the new one
        #expect(queue.pendingMessages == 5)
        queue.observe(pendingBytes: 10)
        #expect(queue.pendingMessages == 2)
    }
}
