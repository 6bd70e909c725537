import NIOConcurrencyHelpers
import NIOCore

/// One room's members and delivery order. Members are grouped by event loop so a message
/// costs one outbox item per loop, whatever the room's size.
///
/// Membership changes happen with the hub's lock held *and* this lock; broadcasts take only
/// this lock. So broadcasts to different rooms never contend, and a broadcast never sees a
/// member half-added.
final class Room: @unchecked Sendable {
    private struct Group {
        let outbox: EventLoopOutbox
        var members = MemberChunks<LoopBoundHandler>()
        /// Parallel to `members`; never handed out, so never copied.
        var ids: ContiguousArray<ConnectionID> = []
    }

    let name: String
    let lock = NIOLock()
    // Guarded by `lock`:
    private var groups: [ObjectIdentifier: Group] = [:]
    private var positions: [ConnectionID: Int] = [:]
    private var userConnections: [String: Int] = [:]
    private var sequencer: RoomSequencer<OutboundFrame>

    init(name: String, lastSeq: Int) {
        self.name = name
        self.sequencer = RoomSequencer(lastDelivered: lastSeq)
    }

    // MARK: called with `lock` held

    var lastDeliveredSeqLocked: Int { sequencer.lastDelivered }
    /// Unsorted: sort outside the locks (a join in a 19,000-user room sorted them all while
    /// holding the hub's lock).
    var usersLocked: [String] { Array(userConnections.keys) }
    var isEmptyLocked: Bool { positions.isEmpty }
    var memberCountLocked: Int { positions.count }

    func containsLocked(_ id: ConnectionID) -> Bool { positions[id] != nil }

    /// Returns whether the user's first connection just arrived.
    func addLocked(_ connection: Connection, handler: LoopBoundHandler) -> Bool {
        let key = ObjectIdentifier(connection.outbox)
        var group = groups.removeValue(forKey: key) ?? Group(outbox: connection.outbox)
        positions[connection.id] = group.members.count
        group.members.append(handler)
        group.ids.append(connection.id)
        groups[key] = group
        userConnections[connection.user, default: 0] += 1
        return userConnections[connection.user] == 1
    }

    /// Returns whether the user's last connection just left, or nil if it was not a member.
    func removeLocked(_ connection: Connection) -> Bool? {
        guard let index = positions.removeValue(forKey: connection.id) else { return nil }
        let key = ObjectIdentifier(connection.outbox)
        var group = groups.removeValue(forKey: key)!
        let last = group.ids.count - 1
        group.members.swapRemove(at: index)
        if index != last {
            group.ids.swapAt(index, last)
            positions[group.ids[index]] = index
        }
        group.ids.removeLast()
        if !group.members.isEmpty { groups[key] = group }
        let remaining = userConnections[connection.user, default: 1] - 1
        userConnections[connection.user] = remaining == 0 ? nil : remaining
        return remaining == 0
    }

    /// Enqueues `frame` on every member's outbox; returns the number of recipients.
    @discardableResult
    func broadcastLocked(_ frame: OutboundFrame, except: ConnectionID? = nil) -> Int {
        for group in groups.values {
            group.outbox.enqueue(.broadcast(group.members, frame, room: name, except: except))
        }
        return positions.count - (except.map { positions[$0] == nil ? 0 : 1 } ?? 0)
    }

    /// Delivers `seq` once every lower one has gone out; returns the number of deliveries.
    func publishLocked(seq: Int, _ frame: OutboundFrame) -> Int {
        var deliveries = 0
        for ready in sequencer.accept(seq: seq, frame) {
            deliveries += broadcastLocked(ready)
        }
        return deliveries
    }
}
