import SwitchboardTestSupport
import Testing
@testable import Switchboard


@Suite("RoomSequencer")
struct RoomSequencerUnitTests {
    @Test func inOrderMessagesAreDeliveredImmediately() {
        var sequencer = RoomSequencer<String>(lastDelivered: 0)
        #expect(sequencer.accept(seq: 1, "a") == ["a"])
        #expect(sequencer.accept(seq: 2, "b") == ["b"])
        #expect(sequencer.accept(seq: 3, "c") == ["c"])
        #expect(sequencer.lastDelivered == 3)
        #expect(sequencer.heldCount == 0)
    }

    @Test func outOfOrderMessagesAreHeldThenReleasedInOrder() {
        var sequencer = RoomSequencer<String>(lastDelivered: 0)
        #expect(sequencer.accept(seq: 3, "c") == [])
        #expect(sequencer.accept(seq: 2, "b") == [])
        #expect(sequencer.heldCount == 2)
        #expect(sequencer.lastDelivered == 0)
        #expect(sequencer.accept(seq: 1, "a") == ["a", "b", "c"])
        #expect(sequencer.heldCount == 0)
        #expect(sequencer.lastDelivered == 3)
    }

    @Test func releaseStopsAtTheNextGap() {
        var sequencer = RoomSequencer<Int>(lastDelivered: 0)
        #expect(sequencer.accept(seq: 2, 2) == [])
        #expect(sequencer.accept(seq: 4, 4) == [])
        #expect(sequencer.accept(seq: 5, 5) == [])
        #expect(sequencer.accept(seq: 1, 1) == [1, 2])
        #expect(sequencer.lastDelivered == 2)
        #expect(sequencer.heldCount == 2)
        #expect(sequencer.accept(seq: 3, 3) == [3, 4, 5])
        #expect(sequencer.heldCount == 0)
    }

    @Test func alreadyDeliveredSeqIsADuplicateAndDropped() {
        var sequencer = RoomSequencer<String>(lastDelivered: 0)
        #expect(sequencer.accept(seq: 1, "a") == ["a"])
        #expect(sequencer.accept(seq: 2, "b") == ["b"])
        #expect(sequencer.accept(seq: 1, "a again") == [])
        #expect(sequencer.accept(seq: 2, "b again") == [])
        #expect(sequencer.accept(seq: 0, "zero") == [])
        #expect(sequencer.accept(seq: -5, "negative") == [])
        #expect(sequencer.lastDelivered == 2)
        #expect(sequencer.heldCount == 0)
        #expect(sequencer.accept(seq: 3, "c") == ["c"])
    }

    @Test func duplicateOfAHeldSeqIsDeliveredOnlyOnce() {
        var sequencer = RoomSequencer<String>(lastDelivered: 0)
        #expect(sequencer.accept(seq: 2, "b") == [])
        #expect(sequencer.accept(seq: 2, "b") == [])
        #expect(sequencer.heldCount == 1)
        #expect(sequencer.accept(seq: 1, "a") == ["a", "b"])
        #expect(sequencer.accept(seq: 2, "b") == [])
    }

    @Test func startsAfterANonZeroLastDelivered() {
        var sequencer = RoomSequencer<Int>(lastDelivered: 41)
        #expect(sequencer.lastDelivered == 41)
        #expect(sequencer.accept(seq: 41, 41) == [])  // already seen before the sequencer existed
        #expect(sequencer.accept(seq: 1, 1) == [])
        #expect(sequencer.accept(seq: 43, 43) == [])
        #expect(sequencer.accept(seq: 42, 42) == [42, 43])
        #expect(sequencer.lastDelivered == 43)
        #expect(sequencer.heldCount == 0)
    }

    @Test func randomPermutationsComeOutInOrderWithoutGaps() {
        var rng = XorShiftRNG(seed: 0xABCD_1234)
        for round in 0..<500 {
            let start = Int.random(in: 0...1000, using: &rng)
            let count = Int.random(in: 1...60, using: &rng)
            var arrivals = Array((start + 1)...(start + count))
            arrivals.shuffle(using: &rng)
            // Sprinkle duplicates and stale seqs among the arrivals.
            for _ in 0..<Int.random(in: 0...10, using: &rng) {
                let index = Int.random(in: 0...arrivals.count, using: &rng)
                let duplicate = Bool.random(using: &rng)
                    ? arrivals[Int.random(in: 0..<arrivals.count, using: &rng)]
                    : Int.random(in: max(0, start - 5)...start, using: &rng)
                arrivals.insert(duplicate, at: index)
            }

            var sequencer = RoomSequencer<Int>(lastDelivered: start)
            var delivered: [Int] = []
            for seq in arrivals {
                delivered += sequencer.accept(seq: seq, seq)
            }
            #expect(delivered == Array((start + 1)...(start + count)), "round \(round): \(arrivals)")
            #expect(sequencer.lastDelivered == start + count)
            #expect(sequencer.heldCount == 0, "round \(round)")
        }
    }
}
