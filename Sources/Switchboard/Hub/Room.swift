import NIOConcurrencyHelpers
import NIOCore

/// One room's members and delivery order. Members are grouped by event loop so a message
/// costs one outbox item per loop, whatever the room's size.
///
/// Membership changes happen with the hub's lock held *and* this lock; broadcasts take only
/// this lock. So broadcasts to different rooms never contend, and a broadcast never sees a
/// member half-added. Lock order: the hub's lock, then this one, then an outbox's (which
/// `broadcastLocked` takes to enqueue); never the other way round.
final class Room: @unchecked Sendable {
    private struct Group {
        let outbox: EventLoopOutbox
        var members = MemberChunks<LoopBoundHandler>()
        /// Parallel to `members`; never handed out, so never copied.
        var ids: ContiguousArray<ConnectionID> = []
    }

    let name: String
    let lock = NIOLock()
    /// Joins waiting for the store's latest `seq` (`Hub.join(_:room:knownSeq:)`, the async
    /// one). The hub keeps the room while there are any, so what is published meanwhile is
    /// sequenced here and not lost with an evicted room. Guarded by the *hub's* lock.
    var joinsInFlight = 0
    // Guarded by `lock`:
    private var groups: [ObjectIdentifier: Group] = [:]
    private var positions: [ConnectionID: Int] = [:]
    private var userConnections: [String: Int] = [:]
    /// Nil until the room's latest `seq` is known (see `establishLocked`).
    private var sequencer: RoomSequencer<OutboundFrame>?
    /// Published before the room's latest `seq` was known; sequenced once it is.
    private var early: [(seq: Int, frame: OutboundFrame)] = []

    /// `lastSeq` is the latest `seq` the store assigned in the room, or nil if it is not
    /// known yet (a join is reading it).
    init(name: String, lastSeq: Int?) {
        self.name = name
        self.sequencer = lastSeq.map { RoomSequencer(lastDelivered: $0) }
    }

    // MARK: called with `lock` held

    /// The last `seq` delivered; the room must be established.
    var lastDeliveredSeqLocked: Int { sequencer!.lastDelivered }
    /// The last `seq` delivered, nil until the room is established.
    var lastDeliveredSeqIfKnownLocked: Int? { sequencer?.lastDelivered }
    /// Messages wait for a lower `seq` (or for the room's position, if not established).
    var hasHeldMessagesLocked: Bool { (sequencer?.heldCount ?? 0) > 0 || !early.isEmpty }

    func hasUserLocked(_ user: String) -> Bool { userConnections[user] != nil }

    /// Every member's connection (immutable, so usable off the members' loops).
    var connectionsLocked: [Connection] {
        groups.values.flatMap { group in group.ids.indices.map { group.members[$0].connection } }
    }
    /// Unsorted: sort outside the locks (a join in a 19,000-user room sorted them all while
    /// holding the hub's lock).
    var usersLocked: [String] { Array(userConnections.keys) }
    /// No members: the hub evicts the room unless a join is in flight.
    var isEmptyLocked: Bool { positions.isEmpty }

    /// Sets the room's latest `seq`, if it was not known, and delivers what was published
    /// meanwhile and follows it; returns the number of deliveries. Messages up to `lastSeq`
    /// are in the store, so a joiner gets them as history.
    func establishLocked(lastSeq: Int) -> Int {
        guard sequencer == nil else { return 0 }
        sequencer = RoomSequencer(lastDelivered: lastSeq)
        let published = early
        early = []
        return published.reduce(0) { $0 + publishLocked(seq: $1.seq, $1.frame) }
    }

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

    /// Enqueues `frame` for the members that are not `user`'s connection. Such an event (a
    /// cluster's presence news about `user`) arrives when `user` has no connection here, or,
    /// racing a join, one: a room's broadcast can leave out one connection. A second one of
    /// the same user in that race would get the news about itself; harmless, and rarer still.
    @discardableResult
    func broadcastLocked(_ frame: OutboundFrame, exceptUser user: String) -> Int {
        guard userConnections[user] != nil else { return broadcastLocked(frame) }
        for group in groups.values {
            for index in group.ids.indices where group.members[index].user == user {
                return broadcastLocked(frame, except: group.ids[index])
            }
        }
        return broadcastLocked(frame)
    }

    /// Delivers `seq` once every lower one has gone out; returns the number of deliveries.
    func publishLocked(seq: Int, _ frame: OutboundFrame) -> Int {
        guard sequencer != nil else {
            early.append((seq, frame))
            return 0
        }
        var deliveries = 0
        for ready in sequencer!.accept(seq: seq, frame) {
            deliveries += broadcastLocked(ready)
        }
        return deliveries
    }
}
