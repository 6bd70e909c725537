import DequeModule
import Foundation

/// The in-memory store's state, without its lock: every room's latest messages, its epoch
/// and its recent idempotency keys, all under one memory budget.
///
/// Past the budget the least recently used room goes first. A room whose sequence someone
/// still relies on (`keepsSequence`: the hub is delivering it, and would wait forever at a
/// `seq` that restarted) only loses its oldest messages; any other room is forgotten whole,
/// so its next use starts a new epoch at `seq` 1.
struct RoomLogs {
    struct Limits: Sendable {
        var maxMessagesPerRoom: Int
        var memoryBudget: Int
        /// How long a resend with the same idempotency key is recognised, in seconds of `sent`.
        var idempotencyWindow: TimeInterval
        var maxKeysPerRoom: Int
    }

    /// Who sent with which key: keys are per user, so one user cannot cancel another's message.
    private struct SenderKey: Hashable {
        var user: String
        var key: String
    }

    private struct RememberedKey {
        var sender: SenderKey
        var expires: Date
    }

    private struct Log {
        var epoch: String
        var lastSeq = 0
        var messages = Deque<StoredMessage>()
        var keys: [SenderKey: Int] = [:]
        var keyOrder = Deque<RememberedKey>()
        var bytes: Int
        var lastUse: UInt64 = 0

        var oldestKept: Int { messages.first?.seq ?? lastSeq + 1 }
    }

    // Rough heap cost of each kind of entry; the budget is about order of magnitude, not bytes.
    private static let logOverhead = 256
    private static let messageOverhead = 96
    private static let keyOverhead = 96

    let limits: Limits
    private var logs: [String: Log] = [:]
    /// Rooms in order of use, oldest first; an entry whose tick is not its room's `lastUse` is
    /// stale (the room was used again later) and skipped. Compacted when stale entries dominate.
    private var useOrder = Deque<(room: String, tick: UInt64)>()
    private var tick: UInt64 = 0
    private(set) var bytes = 0
    private(set) var evictedRooms = 0

    init(limits: Limits) {
        self.limits = limits
    }

    var roomCount: Int { logs.count }

    // MARK: operations

    mutating func position(room: String) -> RoomPosition {
        let log = use(room)
        return RoomPosition(epoch: log.epoch, seq: log.lastSeq)
    }

    mutating func append(room: String, from: String, message: String, sent: Date, idempotencyKey: String?) -> AppendOutcome {
        use(room)
        var log = logs.removeValue(forKey: room)!
        defer { logs[room] = log }
        forgetExpiredKeys(of: &log, now: sent)
        let sender = idempotencyKey.map { SenderKey(user: from, key: $0) }
        if let sender, let seq = log.keys[sender] { return .duplicate(seq: seq) }

        log.lastSeq += 1
        let stored = StoredMessage(room: room, seq: log.lastSeq, from: from, message: message, sent: sent)
        log.messages.append(stored)
        charge(Self.cost(of: stored), to: &log)
        if log.messages.count > limits.maxMessagesPerRoom { dropOldestMessage(of: &log) }
        if let sender {
            log.keys[sender] = stored.seq
            log.keyOrder.append(RememberedKey(sender: sender, expires: sent.addingTimeInterval(limits.idempotencyWindow)))
            charge(Self.cost(of: sender), to: &log)
            if log.keyOrder.count > limits.maxKeysPerRoom { forgetOldestKey(of: &log) }
        }
        return .stored(stored)
    }

    mutating func history(room: String, after: Int, through: Int, limit: Int) -> HistorySlice {
        let log = use(room)
        let after = max(after, 0)
        let last = min(through, log.lastSeq)
        // Checked before any `after + 1`: a client may send `since` = Int.max.
        guard after < last else { return HistorySlice(messages: [], complete: true, epoch: log.epoch) }
        let oldest = log.oldestKept
        let complete = after + 1 >= oldest
        let first = max(after + 1, oldest)
        guard first <= last else { return HistorySlice(messages: [], complete: complete, epoch: log.epoch) }
        let count = min(max(limit, 0), last - first + 1)
        let start = first - oldest
        let messages = Array(log.messages[start..<start + count])
        return HistorySlice(messages: messages, complete: complete, more: first + count - 1 < last, epoch: log.epoch)
    }

    mutating func history(room: String, before: Int, limit: Int) -> HistorySlice {
        let log = use(room)
        let oldest = log.oldestKept
        guard before > oldest else { return HistorySlice(messages: [], complete: true, epoch: log.epoch) }
        let last = min(before - 1, log.lastSeq)
        guard last >= oldest else { return HistorySlice(messages: [], complete: true, epoch: log.epoch) }
        let count = min(max(limit, 0), last - oldest + 1)
        let start = last - count + 1 - oldest
        let messages = Array(log.messages[start..<start + count])
        return HistorySlice(messages: messages, complete: true, more: last - count + 1 > oldest, epoch: log.epoch)
    }

    /// Frees memory until the budget holds again, least recently used rooms first. `sparing`
    /// (the room just written) is only trimmed, never forgotten, and keeps its newest message.
    mutating func enforceBudget(sparing: String, keepsSequence: (String) -> Bool) {
        var fruitless = 0
        while bytes > limits.memoryBudget, fruitless <= logs.count, let victim = leastRecentlyUsed() {
            if victim != sparing && !keepsSequence(victim) {
                let freed = logs.removeValue(forKey: victim)!.bytes
                bytes -= freed
                evictedRooms += 1
                fruitless = 0
                continue
            }
            var log = logs.removeValue(forKey: victim)!
            let before = log.bytes
            let keep = victim == sparing ? 1 : 0
            while bytes > limits.memoryBudget, log.messages.count > keep { dropOldestMessage(of: &log) }
            fruitless = log.bytes < before ? 0 : fruitless + 1
            logs[victim] = log
            touch(victim)
        }
    }

    // MARK: bookkeeping

    @discardableResult
    private mutating func use(_ room: String) -> Log {
        if logs[room] == nil {
            let cost = Self.logOverhead + room.utf8.count
            logs[room] = Log(epoch: Self.newEpoch(), bytes: cost)
            bytes += cost
        }
        touch(room)
        return logs[room]!
    }

    private mutating func touch(_ room: String) {
        tick += 1
        logs[room]!.lastUse = tick
        useOrder.append((room, tick))
        if useOrder.count > 2 * logs.count + 64 {
            useOrder = Deque(logs.map { ($0.key, $0.value.lastUse) }.sorted { $0.1 < $1.1 })
        }
    }

    private mutating func leastRecentlyUsed() -> String? {
        while let (room, tick) = useOrder.popFirst() {
            if logs[room]?.lastUse == tick { return room }
        }
        return nil
    }

    private mutating func charge(_ cost: Int, to log: inout Log) {
        log.bytes += cost
        bytes += cost
    }

    private mutating func dropOldestMessage(of log: inout Log) {
        guard let dropped = log.messages.popFirst() else { return }
        charge(-Self.cost(of: dropped), to: &log)
    }

    private mutating func forgetExpiredKeys(of log: inout Log, now: Date) {
        while let oldest = log.keyOrder.first, oldest.expires <= now { forgetOldestKey(of: &log) }
    }

    private mutating func forgetOldestKey(of log: inout Log) {
        guard let oldest = log.keyOrder.popFirst() else { return }
        log.keys[oldest.sender] = nil
        charge(-Self.cost(of: oldest.sender), to: &log)
    }

    private static func cost(of message: StoredMessage) -> Int {
        messageOverhead + message.room.utf8.count + message.from.utf8.count + message.message.utf8.count
    }

    private static func cost(of sender: SenderKey) -> Int {
        keyOverhead + sender.user.utf8.count + sender.key.utf8.count
    }

    /// 64 random bits: a room life is told apart from every other life of the same room,
    /// across restarts too, without coordination.
    static func newEpoch() -> String {
        let hex = String(UInt64.random(in: .min ... .max), radix: 16)
        return String(repeating: "0", count: 16 - hex.count) + hex
    }
}
