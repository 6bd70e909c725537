import Foundation
import NIOConcurrencyHelpers
import Switchboard

/// Gathers one node's concurrent appends to a room into one transaction.
///
/// Appends to a room are serialised by its row lock, held until COMMIT (and the WAL flush):
/// one append per transaction caps a room at one commit's round trip per message, about
/// 600 messages a second here. With batching, one append per room is in flight from this
/// node, and whatever arrived meanwhile goes in the next call, in arrival order.
///
/// No task of its own: the caller whose append finds the room idle runs the batch; when it
/// is done it resumes the others with their outcome and hands the next batch to the first
/// of those who arrived meanwhile (so nobody's answer waits for someone else's batch).
final class AppendBatcher: Sendable {
    struct Request: Sendable {
        var from: String
        var message: String
        var sent: Date
        var idempotencyKey: String?
    }

    /// Runs one batch for a room; returns one outcome per request, in order.
    typealias Flush = @Sendable (_ room: String, _ requests: [Request]) async throws -> [AppendOutcome]

    private enum Turn: Sendable {
        case done(Result<AppendOutcome, any Error>)
        /// Your request was not sent yet: run the next batch.
        case flush
    }

    private struct Waiter {
        let request: Request
        /// Nil for the one running the batch (it holds its place in the batch itself).
        let continuation: CheckedContinuation<Turn, Never>?
    }

    private struct RoomQueue {
        var waiting: [Waiter] = []
        var flushing = false
    }

    /// Messages per transaction at most: a bounded statement, and a bounded wait for the
    /// last of them.
    static let maxBatch = 256
    private let rooms = NIOLockedValueBox([String: RoomQueue]())
    private let flush: Flush

    init(flush: @escaping Flush) {
        self.flush = flush
    }

    func append(room: String, _ request: Request) async throws -> AppendOutcome {
        let leads = rooms.withLockedValue { rooms -> Bool in
            if rooms[room]?.flushing == true { return false }
            rooms[room, default: RoomQueue()].flushing = true
            return true
        }
        if leads { return try await runBatches(room: room, own: request) }
        let turn = await withCheckedContinuation { continuation in
            let queued = rooms.withLockedValue { rooms -> Bool in
                // The batch may have ended between the two locks: then lead.
                guard rooms[room]?.flushing == true else {
                    rooms[room, default: RoomQueue()].flushing = true
                    return false
                }
                rooms[room]!.waiting.append(Waiter(request: request, continuation: continuation))
                return true
            }
            if !queued { continuation.resume(returning: .flush) }
        }
        switch turn {
        case .done(let result): return try result.get()
        case .flush: return try await runBatches(room: room, own: request)
        }
    }

    /// Runs a batch of `own` and the requests waiting behind it; then passes the lead on.
    private func runBatches(room: String, own: Request) async throws -> AppendOutcome {
        let others = rooms.withLockedValue { rooms -> [Waiter] in
            let count = min(rooms[room]?.waiting.count ?? 0, Self.maxBatch - 1)
            let taken = Array(rooms[room]!.waiting.prefix(count))
            rooms[room]!.waiting.removeFirst(count)
            return taken
        }
        let batch = [own] + others.map(\.request)
        let outcomes: Result<[AppendOutcome], any Error>
        do {
            let result = try await flush(room, batch)
            outcomes = result.count == batch.count ? .success(result) : .failure(StoreUnavailableError("append returned \(result.count) rows for \(batch.count) messages"))
        } catch {
            outcomes = .failure(error)
        }
        let next = rooms.withLockedValue { rooms -> Waiter? in
            guard var queue = rooms[room], !queue.waiting.isEmpty else {
                rooms[room] = nil
                return nil
            }
            let first = queue.waiting.removeFirst()
            rooms[room] = queue
            return first
        }
        for (index, waiter) in others.enumerated() {
            waiter.continuation?.resume(returning: .done(outcomes.map { $0[index + 1] }))
        }
        next?.continuation?.resume(returning: .flush)
        return try outcomes.get()[0]
    }
}
