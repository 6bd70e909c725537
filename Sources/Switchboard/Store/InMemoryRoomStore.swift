import DequeModule
import Foundation
import NIOConcurrencyHelpers

/// The embedded default store: each room keeps its latest messages in memory, bounded so a
/// busy room cannot grow without limit. `seq` survives trimming; history before the oldest
/// kept message is reported as missing (`complete == false`).
public final class InMemoryRoomStore: RoomStore {
    private struct RoomLog {
        var lastSeq = 0
        var messages = Deque<StoredMessage>()
    }

    public let maxMessagesPerRoom: Int
    private let rooms = NIOLockedValueBox<[String: RoomLog]>([:])

    public init(maxMessagesPerRoom: Int = 1000) {
        precondition(maxMessagesPerRoom > 0)
        self.maxMessagesPerRoom = maxMessagesPerRoom
    }

    public func append(room: String, from: String, message: String, sent: Date) async throws -> StoredMessage {
        rooms.withLockedValue { rooms in
            var log = rooms.removeValue(forKey: room) ?? RoomLog()
            log.lastSeq += 1
            let stored = StoredMessage(room: room, seq: log.lastSeq, from: from, message: message, sent: sent)
            log.messages.append(stored)
            if log.messages.count > maxMessagesPerRoom { log.messages.removeFirst() }
            rooms[room] = log
            return stored
        }
    }

    public func latestSeq(room: String) async throws -> Int {
        rooms.withLockedValue { $0[room]?.lastSeq ?? 0 }
    }

    public func history(room: String, after: Int, through: Int, limit: Int) async throws -> HistorySlice {
        rooms.withLockedValue { rooms in
            let after = max(after, 0)
            guard let log = rooms[room], through > after, limit > 0 else {
                return HistorySlice(messages: [], complete: true)
            }
            let oldestKept = log.messages.first?.seq ?? (log.lastSeq + 1)
            let wanted = log.messages.filter { $0.seq > after && $0.seq <= through }
            let kept = Array(wanted.suffix(limit))
            // Complete when nothing between `after` and `through` is missing from the answer.
            let firstReturned = kept.first?.seq ?? (through + 1)
            let complete = firstReturned == after + 1 || (kept.isEmpty && oldestKept <= after + 1)
            return HistorySlice(messages: kept, complete: complete)
        }
    }
}
