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
            #expect(slice.messages.isEmpty, "after \(after) through \(through)")
            #expect(slice.complete, "after \(after) through \(through)")
        }
        let zeroLimit = try await store.history(room: "lobby", after: 0, through: 5, limit: 0)
        #expect(zeroLimit.messages.isEmpty)
    }

    @Test func unknownRoomHasNoHistory() async throws {
        let store = try await makeStore(count: 3)
        let slice = try await store.history(room: "nowhere", after: 0, through: 10, limit: 10)
        #expect(slice == HistorySlice(messages: [], complete: true))
    }

    @Test func limitKeepsTheNewestAndReportsTheRestMissing() async throws {
        let store = try await makeStore(count: 10)
        let slice = try await store.history(room: "lobby", after: 0, through: 10, limit: 3)
        #expect(seqs(slice) == [8, 9, 10])
        #expect(!slice.complete)

        let exact = try await store.history(room: "lobby", after: 7, through: 10, limit: 3)
        #expect(seqs(exact) == [8, 9, 10])
        #expect(exact.complete)
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
