import Foundation
import NIOConcurrencyHelpers
import Switchboard
import Testing
@testable import SwitchboardPostgres

/// The batching of one node's appends to a room, with the database call replaced by a
/// closure that numbers the messages as `switchboard_append` does.
@Suite("AppendBatcher")
struct AppendBatcherUnitTests {
    /// A fake room: numbers messages in call order and records each batch's size.
    final class Recorder: Sendable {
        let batches = NIOLockedValueBox<[[String]]>([])
        let seq = NIOLockedValueBox(0)
        let failing: Bool

        init(failing: Bool = false) {
            self.failing = failing
        }

        func flush(_ room: String, _ requests: [AppendBatcher.Request]) async throws -> [AppendOutcome] {
            batches.withLockedValue { $0.append(requests.map(\.message)) }
            // Long enough for the others to queue behind this batch.
            try await Task.sleep(for: .milliseconds(20))
            if failing { throw StoreUnavailableError("down") }
            return requests.map { request in
                let seq = self.seq.withLockedValue { $0 += 1; return $0 }
                return .stored(StoredMessage(room: room, seq: seq, from: request.from, message: request.message, sent: request.sent))
            }
        }
    }

    @Test("appends arriving while a batch is in flight go together in the next, in arrival order, and each gets its own seq")
    func concurrentAppendsAreBatched() async throws {
        let recorder = Recorder()
        let batcher = AppendBatcher(flush: recorder.flush)
        let results = try await withThrowingTaskGroup(of: (String, Int).self) { group in
            for index in 0..<50 {
                group.addTask {
                    let message = "m\(index)"
                    let outcome = try await batcher.append(room: "r", .init(from: "u", message: message, sent: Date()))
                    return (message, outcome.seq)
                }
            }
            return try await group.reduce(into: [:]) { $0[$1.0] = $1.1 }
        }
        #expect(Set(results.values) == Set(1...50))
        let batches = recorder.batches.withLockedValue { $0 }
        #expect(batches.count < 50)
        #expect(batches.flatMap { $0 }.count == 50)
        // The seq of each message is its position in the batches, in order.
        let order = batches.flatMap { $0 }
        #expect(order.enumerated().allSatisfy { results[$0.element] == $0.offset + 1 })
    }

    @Test("a failed batch fails every append in it; the next batch runs")
    func failureReachesEveryone() async throws {
        let recorder = Recorder(failing: true)
        let batcher = AppendBatcher(flush: recorder.flush)
        let failures = await withTaskGroup(of: Bool.self) { group in
            for index in 0..<10 {
                group.addTask {
                    do {
                        _ = try await batcher.append(room: "r", .init(from: "u", message: "m\(index)", sent: Date()))
                        return false
                    } catch {
                        return error is StoreUnavailableError
                    }
                }
            }
            return await group.reduce(0) { $0 + ($1 ? 1 : 0) }
        }
        #expect(failures == 10)
    }

    @Test("rooms batch independently: a slow room does not hold another's appends")
    func roomsAreIndependent() async throws {
        let recorder = Recorder()
        let batcher = AppendBatcher(flush: recorder.flush)
        async let first = batcher.append(room: "a", .init(from: "u", message: "a1", sent: Date()))
        async let second = batcher.append(room: "b", .init(from: "u", message: "b1", sent: Date()))
        _ = try await (first, second)
        #expect(recorder.batches.withLockedValue { $0.count } == 2)
    }
}
