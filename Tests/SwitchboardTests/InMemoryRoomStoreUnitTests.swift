import Foundation
import Testing
@testable import Switchboard

private let epoch = Date(timeIntervalSince1970: 1_700_000_000)

/// A store with `count` messages "m1"…"mN" in `room`.
private func makeStore(room: String = "lobby", count: Int, max: Int = 1000) async throws -> InMemoryRoomStore {
    let store = InMemoryRoomStore(maxMessagesPerRoom: max)
    for index in stride(from: 1, through: count, by: 1) {
        _ = try await store.append(room: room, from: "user\(index % 3)", message: "m\(index)", sent: epoch + Double(index))
    }
    return store
}

private func seqs(_ slice: HistorySlice) -> [Int] { slice.messages.map(\.seq) }

@Suite("InMemoryRoomStore")
struct InMemoryRoomStoreUnitTests {
    // MARK: append

    @Test func seqStartsAtOneAndIsGapless() async throws {
        let store = InMemoryRoomStore()
        #expect(try await store.latestSeq(room: "lobby") == 0)
        for expected in 1...20 {
            let stored = try await store.append(room: "lobby", from: "ann", message: "hello \(expected)", sent: epoch)
            #expect(stored.seq == expected)
            #expect(try await store.latestSeq(room: "lobby") == expected)
        }
    }

    @Test func appendReturnsWhatWasStored() async throws {
        let store = InMemoryRoomStore()
        let stored = try await store.append(room: "r", from: "bob", message: "hi 👋", sent: epoch)
        #expect(stored == StoredMessage(room: "r", seq: 1, from: "bob", message: "hi 👋", sent: epoch))
        let history = try await store.history(room: "r", after: 0, through: 1, limit: 10)
        #expect(history.messages == [stored])
    }

    @Test func roomsHaveIndependentSequences() async throws {
        let store = InMemoryRoomStore()
        #expect(try await store.append(room: "a", from: "x", message: "1", sent: epoch).seq == 1)
        #expect(try await store.append(room: "a", from: "x", message: "2", sent: epoch).seq == 2)
        #expect(try await store.append(room: "b", from: "x", message: "1", sent: epoch).seq == 1)
        #expect(try await store.append(room: "a", from: "x", message: "3", sent: epoch).seq == 3)
        #expect(try await store.append(room: "b", from: "x", message: "2", sent: epoch).seq == 2)
        #expect(try await store.latestSeq(room: "a") == 3)
        #expect(try await store.latestSeq(room: "b") == 2)
        #expect(try await store.latestSeq(room: "c") == 0)
        let b = try await store.history(room: "b", after: 0, through: 10, limit: 10)
        #expect(b.messages.map(\.room) == ["b", "b"])
        #expect(b.messages.map(\.message) == ["1", "2"])
    }

    @Test func concurrentAppendsGetDistinctGaplessSeqs() async throws {
        let store = InMemoryRoomStore()
        let seqs = try await withThrowingTaskGroup(of: Int.self) { group in
            for task in 0..<50 {
                group.addTask {
                    try await store.append(room: "busy", from: "task\(task)", message: "m\(task)", sent: epoch).seq
                }
            }
            var seqs: [Int] = []
            for try await seq in group { seqs.append(seq) }
            return seqs
        }
        #expect(seqs.count == 50)
        #expect(Set(seqs) == Set(1...50))
        #expect(try await store.latestSeq(room: "busy") == 50)
        let history = try await store.history(room: "busy", after: 0, through: 50, limit: 100)
        #expect(history.messages.map(\.seq) == Array(1...50))
        #expect(Set(history.messages.map(\.from)).count == 50)
        #expect(history.complete)
    }

    @Test func concurrentAppendsToManyRoomsStayGaplessPerRoom() async throws {
        let store = InMemoryRoomStore()
        try await withThrowingTaskGroup(of: Void.self) { group in
            for task in 0..<60 {
                group.addTask {
                    _ = try await store.append(room: "room\(task % 3)", from: "t", message: "\(task)", sent: epoch)
                }
            }
            try await group.waitForAll()
        }
        for room in 0..<3 {
            #expect(try await store.latestSeq(room: "room\(room)") == 20)
            let history = try await store.history(room: "room\(room)", after: 0, through: 20, limit: 20)
            #expect(history.messages.map(\.seq) == Array(1...20))
        }
    }

    // MARK: history

    @Test func historyReturnsTheRangeOldestFirst() async throws {
        let store = try await makeStore(count: 10)
        let all = try await store.history(room: "lobby", after: 0, through: 10, limit: 100)
        #expect(seqs(all) == Array(1...10))
        #expect(all.messages.map(\.message) == (1...10).map { "m\($0)" })
        #expect(all.complete)

        let middle = try await store.history(room: "lobby", after: 3, through: 7, limit: 100)
        #expect(seqs(middle) == [4, 5, 6, 7])
        #expect(middle.complete)
    }

    @Test func historyBoundsAreExclusiveAfterAndInclusiveThrough() async throws {
        let store = try await makeStore(count: 10)
        #expect(seqs(try await store.history(room: "lobby", after: 4, through: 5, limit: 10)) == [5])
        #expect(seqs(try await store.history(room: "lobby", after: 9, through: 10, limit: 10)) == [10])
        #expect(seqs(try await store.history(room: "lobby", after: 0, through: 1, limit: 10)) == [1])
    }

    @Test func historyNeverReturnsMessagesPastThrough() async throws {
        // `through` is the seq the hub saw at the join; later messages arrive live.
        let store = try await makeStore(count: 10)
        let slice = try await store.history(room: "lobby", after: 2, through: 6, limit: 100)
        #expect(seqs(slice) == [3, 4, 5, 6])
    }

    @Test func throughBeyondTheLatestReturnsWhatExists() async throws {
        let store = try await makeStore(count: 5)
        let slice = try await store.history(room: "lobby", after: 2, through: 100, limit: 100)
        #expect(seqs(slice) == [3, 4, 5])
        #expect(slice.complete)
    }

    @Test func emptyRangesAreEmptyAndComplete() async throws {
        let store = try await makeStore(count: 5)
        for (after, through) in [(5, 5), (3, 3), (5, 2), (5, 10), (0, 0)] {
            let slice = try await store.history(room: "lobby", after: after, through: through, limit: 10)
            #expect(slice.messages.isEmpty && !slice.more, "after \(after) through \(through)")
            #expect(slice.complete, "after \(after) through \(through)")
        }
        let zeroLimit = try await store.history(room: "lobby", after: 0, through: 5, limit: 0)
        #expect(zeroLimit.messages.isEmpty)
    }

    @Test func unknownRoomHasNoHistory() async throws {
        let store = try await makeStore(count: 3)
        let slice = try await store.history(room: "nowhere", after: 0, through: 10, limit: 10)
        #expect(slice.messages.isEmpty && slice.complete && !slice.more)
    }

    @Test func limitKeepsTheOldestAndSaysThereIsMore() async throws {
        // A recovering reader pages forward: the next page starts after the last seq it got.
        let store = try await makeStore(count: 10)
        let slice = try await store.history(room: "lobby", after: 0, through: 10, limit: 3)
        #expect(seqs(slice) == [1, 2, 3])
        #expect(slice.complete && slice.more)

        let next = try await store.history(room: "lobby", after: 3, through: 10, limit: 3)
        #expect(seqs(next) == [4, 5, 6] && next.more)
        let exact = try await store.history(room: "lobby", after: 7, through: 10, limit: 3)
        #expect(seqs(exact) == [8, 9, 10])
        #expect(exact.complete && !exact.more)
    }

    @Test func beforeReturnsTheNewestBelowOldestFirst() async throws {
        let store = try await makeStore(count: 10)
        let page = try await store.history(room: "lobby", before: 8, limit: 3)
        #expect(seqs(page) == [5, 6, 7] && page.more)
        let first = try await store.history(room: "lobby", before: 3, limit: 5)
        #expect(seqs(first) == [1, 2] && !first.more)
        let latest = try await store.history(room: "lobby", before: .max, limit: 2)
        #expect(seqs(latest) == [9, 10] && latest.more)
        #expect(seqs(try await store.history(room: "lobby", before: 1, limit: 5)).isEmpty)
    }

    @Test func extremeBoundsAreEmptyNotATrap() async throws {
        let store = try await makeStore(count: 3)
        #expect(seqs(try await store.history(room: "lobby", after: .max, through: .max, limit: 10)).isEmpty)
        #expect(seqs(try await store.history(room: "lobby", before: .min, limit: 10)).isEmpty)
        #expect(seqs(try await store.history(room: "lobby", before: .max, limit: .max)) == [1, 2, 3])
    }

    @Test func beforeStopsAtTheOldestKept() async throws {
        let store = try await makeStore(count: 12, max: 5)  // keeps 8…12
        let page = try await store.history(room: "lobby", before: 10, limit: 50)
        #expect(seqs(page) == [8, 9] && !page.more)
    }

    // MARK: trimming

    @Test func trimmingKeepsTheNewestMessagesAndSeqContinues() async throws {
        let store = try await makeStore(count: 12, max: 5)
        #expect(try await store.latestSeq(room: "lobby") == 12)
        let slice = try await store.history(room: "lobby", after: 7, through: 12, limit: 100)
        #expect(seqs(slice) == [8, 9, 10, 11, 12])
        #expect(slice.complete)
        #expect(try await store.append(room: "lobby", from: "x", message: "m13", sent: epoch).seq == 13)
    }

    @Test func askingFromBeforeTheOldestKeptIsIncomplete() async throws {
        let store = try await makeStore(count: 12, max: 5)  // keeps 8…12
        let fromStart = try await store.history(room: "lobby", after: 0, through: 12, limit: 100)
        #expect(seqs(fromStart) == [8, 9, 10, 11, 12])
        #expect(!fromStart.complete)

        let fromJustBefore = try await store.history(room: "lobby", after: 6, through: 12, limit: 100)
        #expect(seqs(fromJustBefore) == [8, 9, 10, 11, 12])
        #expect(!fromJustBefore.complete)
    }

    @Test func rangeEntirelyTrimmedIsEmptyAndIncomplete() async throws {
        let store = try await makeStore(count: 12, max: 5)  // keeps 8…12
        let slice = try await store.history(room: "lobby", after: 2, through: 6, limit: 100)
        #expect(slice.messages.isEmpty)
        #expect(!slice.complete)
    }

    @Test func rangeAfterTheNewestOfATrimmedRoomIsComplete() async throws {
        let store = try await makeStore(count: 12, max: 5)
        let slice = try await store.history(room: "lobby", after: 12, through: 20, limit: 100)
        #expect(slice.messages.isEmpty)
        #expect(slice.complete)
    }

    @Test func trimmingIsPerRoom() async throws {
        let store = InMemoryRoomStore(maxMessagesPerRoom: 2)
        for index in 1...5 { _ = try await store.append(room: "busy", from: "x", message: "\(index)", sent: epoch) }
        _ = try await store.append(room: "quiet", from: "x", message: "only", sent: epoch)
        let quiet = try await store.history(room: "quiet", after: 0, through: 1, limit: 10)
        #expect(seqs(quiet) == [1])
        #expect(quiet.complete)
        let busy = try await store.history(room: "busy", after: 0, through: 5, limit: 10)
        #expect(seqs(busy) == [4, 5])
        #expect(!busy.complete)
    }

    @Test func maxOfOneKeepsOnlyTheLatest() async throws {
        let store = try await makeStore(count: 4, max: 1)
        let slice = try await store.history(room: "lobby", after: 0, through: 4, limit: 10)
        #expect(seqs(slice) == [4])
        #expect(!slice.complete)
        let latest = try await store.history(room: "lobby", after: 3, through: 4, limit: 10)
        #expect(seqs(latest) == [4])
        #expect(latest.complete)
    }
}

@Suite("InMemoryRoomStore epochs, idempotency and memory budget")
struct InMemoryRoomStoreBudgetUnitTests {
    @Test func aRoomKeepsItsEpochForItsLife() async throws {
        let store = InMemoryRoomStore()
        let first = try await store.position(room: "r")
        #expect(first.seq == 0 && first.epoch.count == 16)
        _ = try await store.append(room: "r", from: "a", message: "x", sent: epoch)
        let later = try await store.position(room: "r")
        #expect(later == RoomPosition(epoch: first.epoch, seq: 1))
        #expect(try await store.history(room: "r", after: 0, through: 1, limit: 1).epoch == first.epoch)
        #expect(try await store.position(room: "other").epoch != first.epoch)
        // A new store (a restarted server) is a new life of the same room.
        #expect(try await InMemoryRoomStore().position(room: "r").epoch != first.epoch)
    }

    @Test func aResendWithTheSameKeyIsADuplicateOfTheFirst() async throws {
        let store = InMemoryRoomStore()
        let first = try await store.append(room: "r", from: "ann", message: "hi", sent: epoch, idempotencyKey: "k1")
        #expect(first.seq == 1)
        #expect(try await store.append(room: "r", from: "ann", message: "hi", sent: epoch + 299, idempotencyKey: "k1") == .duplicate(seq: 1))
        #expect(try await store.latestSeq(room: "r") == 1)
        // The key is per user and per room.
        #expect(try await store.append(room: "r", from: "bob", message: "hi", sent: epoch, idempotencyKey: "k1").seq == 2)
        #expect(try await store.append(room: "s", from: "ann", message: "hi", sent: epoch, idempotencyKey: "k1").seq == 1)
        // After the window it is a new message.
        #expect(try await store.append(room: "r", from: "ann", message: "hi", sent: epoch + 301, idempotencyKey: "k1") == .stored(
            StoredMessage(room: "r", seq: 3, from: "ann", message: "hi", sent: epoch + 301)))
    }

    @Test func keysPerRoomAreBoundedOldestFirst() async throws {
        let store = InMemoryRoomStore(maxKeysPerRoom: 3)
        for n in 1...4 { _ = try await store.append(room: "r", from: "ann", message: "m", sent: epoch, idempotencyKey: "k\(n)") }
        #expect(try await store.append(room: "r", from: "ann", message: "m", sent: epoch, idempotencyKey: "k4") == .duplicate(seq: 4))
        #expect(try await store.append(room: "r", from: "ann", message: "m", sent: epoch, idempotencyKey: "k1").seq == 5)
    }

    @Test("over the history budget the least recently used room is forgotten and starts a new epoch")
    func overTheBudgetTheLeastRecentlyUsedRoomIsForgottenAndStartsANewEpoch() async throws {
        let text = String(repeating: "x", count: 1000)
        let store = InMemoryRoomStore(memoryBudget: 9_500)
        _ = try await store.append(room: "old", from: "a", message: text, sent: epoch)
        let oldEpoch = try await store.position(room: "old").epoch
        for n in 1...3 { _ = try await store.append(room: "warm", from: "a", message: text + "\(n)", sent: epoch) }
        for n in 1...4 { _ = try await store.append(room: "new\(n)", from: "a", message: text, sent: epoch) }
        #expect(store.memoryInUse <= 9_500)
        #expect(try await store.history(room: "warm", after: 0, through: 3, limit: 3).messages.count == 3)
        let reborn = try await store.position(room: "old")
        #expect(reborn.seq == 0 && reborn.epoch != oldEpoch)
    }

    @Test("a room the hub still delivers loses only its oldest messages, never its seq")
    func aRoomWhoseSequenceIsKeptLosesOnlyItsOldestMessages() async throws {
        let text = String(repeating: "x", count: 1000)
        let store = InMemoryRoomStore(memoryBudget: 8_000, keepsSequence: { $0 == "live" })
        for _ in 1...4 { _ = try await store.append(room: "live", from: "a", message: text, sent: epoch) }
        let before = try await store.position(room: "live")
        for n in 1...6 { _ = try await store.append(room: "other\(n)", from: "a", message: text, sent: epoch) }
        #expect(store.memoryInUse <= 8_000)
        #expect(try await store.position(room: "live") == before)
        #expect(try await store.append(room: "live", from: "a", message: "next", sent: epoch).seq == 5)
    }

    @Test func oneRoomAloneOverTheBudgetKeepsItsNewestMessage() async throws {
        let store = InMemoryRoomStore(memoryBudget: 2_000)
        for n in 1...5 {
            _ = try await store.append(room: "big", from: "a", message: String(repeating: "y", count: 900) + "\(n)", sent: epoch)
        }
        let slice = try await store.history(room: "big", after: 0, through: 5, limit: 10)
        #expect(slice.messages.last?.seq == 5 && !slice.complete)
        #expect(store.memoryInUse <= 2_000)
    }

    @Test("5,000 rooms of one 1 KiB message each stay within a 64 KiB history budget")
    func thousandsOfOneMessageRoomsStayInBudget() async throws {
        let store = InMemoryRoomStore(memoryBudget: 64 << 10)
        for n in 0..<5_000 {
            _ = try await store.append(room: "room-\(n)", from: "churn", message: String(repeating: "z", count: 1024), sent: epoch)
        }
        #expect(store.memoryInUse <= 64 << 10)
        #expect(store.roomCount < 100)
    }
}
