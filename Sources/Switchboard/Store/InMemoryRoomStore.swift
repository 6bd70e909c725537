import Foundation
import Metrics
import NIOConcurrencyHelpers

/// The embedded default store: each room keeps its latest messages in memory, bounded per
/// room and, over all rooms, by a memory budget (see `RoomLogs` for what is evicted first).
/// `seq` survives trimming; history before the oldest kept message is reported as missing
/// (`complete == false`). A restart, or a room forgotten to stay in budget, starts a new epoch.
public final class InMemoryRoomStore: RoomStore {
    public let maxMessagesPerRoom: Int
    private let logs: NIOLockedValueBox<RoomLogs>
    private let keepsSequence: @Sendable (String) -> Bool
    private let memory = Gauge(label: "switchboard_history_memory_bytes")
    private let evictions = Counter(label: "switchboard_history_rooms_evicted_total")

    /// - Parameters:
    ///   - memoryBudget: bytes of history (messages, rooms, idempotency keys) kept over all rooms.
    ///   - idempotencyWindow: seconds a resend with the same key is recognised (at least 300 by the protocol).
    ///   - maxKeysPerRoom: idempotency keys remembered per room; past it the oldest go first.
    ///   - keepsSequence: whether `room`'s `seq` must not restart (someone delivers it live).
    ///     Called under the store's lock, only when the budget is exceeded.
    public init(
        maxMessagesPerRoom: Int = 1000,
        memoryBudget: Int = 256 << 20,
        idempotencyWindow: TimeInterval = 300,
        maxKeysPerRoom: Int = 10_000,
        keepsSequence: @escaping @Sendable (String) -> Bool = { _ in false }
    ) {
        precondition(maxMessagesPerRoom > 0 && memoryBudget > 0 && maxKeysPerRoom > 0)
        self.maxMessagesPerRoom = maxMessagesPerRoom
        self.keepsSequence = keepsSequence
        logs = NIOLockedValueBox(RoomLogs(limits: .init(
            maxMessagesPerRoom: maxMessagesPerRoom, memoryBudget: memoryBudget,
            idempotencyWindow: idempotencyWindow, maxKeysPerRoom: maxKeysPerRoom
        )))
    }

    /// Bytes of history held now, as the budget counts them.
    public var memoryInUse: Int { logs.withLockedValue { $0.bytes } }

    /// Rooms the store knows (each with its epoch and `seq`).
    public var roomCount: Int { logs.withLockedValue { $0.roomCount } }

    public func append(room: String, from: String, message: String, sent: Date, idempotencyKey: String?) async throws -> AppendOutcome {
        withBudget(room) { $0.append(room: room, from: from, message: message, sent: sent, idempotencyKey: idempotencyKey) }
    }

    public func position(room: String) async throws -> RoomPosition {
        withBudget(room) { $0.position(room: room) }
    }

    public func history(room: String, after: Int, through: Int, limit: Int) async throws -> HistorySlice {
        withBudget(room) { $0.history(room: room, after: after, through: through, limit: limit) }
    }

    public func history(room: String, before: Int, limit: Int) async throws -> HistorySlice {
        withBudget(room) { $0.history(room: room, before: before, limit: limit) }
    }

    /// Every operation may create a room, so every one re-checks the budget.
    private func withBudget<T>(_ room: String, _ body: (inout RoomLogs) -> T) -> T {
        let (result, bytes, evicted) = logs.withLockedValue { logs in
            let evictedBefore = logs.evictedRooms
            let result = body(&logs)
            logs.enforceBudget(sparing: room, keepsSequence: keepsSequence)
            return (result, logs.bytes, logs.evictedRooms - evictedBefore)
        }
        memory.record(bytes)
        if evicted > 0 { evictions.increment(by: evicted) }
        return result
    }
}
