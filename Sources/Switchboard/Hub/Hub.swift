import Logging
import Metrics
import NIOConcurrencyHelpers
import NIOCore
import ServiceLifecycle

/// The registry of live, usable connections and of rooms, and the only way to broadcast.
///
/// A connection is registered when its upgrade completes and removed exactly once, when it
/// stops being usable (a read or write failed, it was closed, or the server shut it down).
/// No method waits on a connection: everything that reaches a socket is enqueued on the
/// connection's event loop (see `EventLoopOutbox`), so a slow member never slows anyone else.
public final class Hub: Sendable {
    /// Encodes presence events (`user_joined`/`user_left`); nil sends none.
    public typealias PresenceEncoder = @Sendable (PresenceChange) -> OutboundFrame?
    /// Told once per connection when it stops being usable, with the close code.
    public typealias DisconnectObserver = @Sendable (Connection, CloseCode) -> Void
    /// Told, after the change and outside the hub's locks, when a user's first connection on
    /// this hub joined a room or their last one left it. A cluster's presence is built from
    /// these (each node knows only its own connections).
    public typealias PresenceObserver = @Sendable (PresenceChange) -> Void

    private struct Record {
        let connection: Connection
        var rooms = JoinedRooms()
    }

    private struct State {
        var accepting = true
        var usable: [ConnectionID: Record] = [:]
        /// Every connection whose transport is still open, usable or closing.
        var open: [ConnectionID: Connection] = [:]
        /// Rooms with members or a join in flight: a room is evicted with its last member.
        var rooms: [String: Room] = [:]
        var outboxes: [ObjectIdentifier: EventLoopOutbox] = [:]
        var opened = 0
    }

    /// Lock order: this lock, then a room's (`Room.lock`), then an outbox's
    /// (`EventLoopOutbox.enqueue`); never the other way round, and never an application's
    /// code (the presence encoder, the disconnect observer) under any of them, since it may
    /// call back into the hub.
    private let state = NIOLockedValueBox(State())
    private let presence: PresenceEncoder?
    private let onDisconnect: DisconnectObserver?
    private let onPresenceChange: PresenceObserver?
    let logger: Logger
    let writeCoalescing: TimeAmount
    private let metrics = HubMetrics()
    /// Runs the connections' event handlers; owned by `run()`.
    let dispatcher: EventDispatcher

    /// - Parameter writeCoalescing: how long an event loop gathers what is sent to its
    ///   connections before writing it. Each pass costs one write syscall per member it
    ///   touches, whatever the number of frames: under load, a millisecond turns several
    ///   messages into one syscall per member (fan-out CPU per delivery −30 %, BENCHMARKS.md,
    ///   seventh session) for at most that much added latency. Zero writes at the loop's next
    ///   turn.
    public init(
        logger: Logger = Logger(label: "switchboard.hub"),
        presence: PresenceEncoder? = nil,
        onDisconnect: DisconnectObserver? = nil,
        onPresenceChange: PresenceObserver? = nil,
        writeCoalescing: TimeAmount = .zero
    ) {
        self.writeCoalescing = writeCoalescing
        self.logger = logger
        self.presence = presence
        self.onDisconnect = onDisconnect
        self.onPresenceChange = onPresenceChange
        self.dispatcher = EventDispatcher(logger: logger)
    }

    // MARK: registry

    /// Rooms the hub keeps: those with members or a join in flight. A room is evicted with
    /// its last member.
    package var roomCount: Int { state.withLockedValue { $0.rooms.count } }
    /// Connections that are registered and usable.
    public var connectionCount: Int { state.withLockedValue { $0.usable.count } }
    /// Transports still open (includes connections that are closing).
    public var openTransportCount: Int { state.withLockedValue { $0.open.count } }
    public var isAccepting: Bool { state.withLockedValue { $0.accepting } }
    /// Connections registered since the hub started (a connect storm moves it, a steady
    /// population does not).
    public var connectionsOpened: Int { state.withLockedValue { $0.opened } }

    /// Every event loop's outbox created so far.
    var outboxes: [EventLoopOutbox] { state.withLockedValue { Array($0.outboxes.values) } }

    func outbox(for eventLoop: any EventLoop) -> EventLoopOutbox {
        state.withLockedValue { state in
            let key = ObjectIdentifier(eventLoop)
            if let outbox = state.outboxes[key] { return outbox }
            let outbox = EventLoopOutbox(eventLoop: eventLoop, coalescing: writeCoalescing)
            state.outboxes[key] = outbox
            return outbox
        }
    }

    func register(_ connection: Connection) -> Bool {
        let registered = state.withLockedValue { state -> Bool in
            guard state.accepting else { return false }
            state.usable[connection.id] = Record(connection: connection)
            state.open[connection.id] = connection
            state.opened += 1
            return true
        }
        if registered { metrics.opened() }
        return registered
    }

    /// Cleanup: the connection is no longer usable. Idempotent; called by the connection's
    /// state machine exactly once, but safe to call again.
    func connectionClosed(_ connection: Connection, code: CloseCode) {
        // The `user_left` frames are encoded before the locks are taken (the encoder may call
        // back into the hub). The rooms are known only under the lock, so the rare join that
        // slips in between gets its frame on another round.
        var leftFrames: [String: OutboundFrame?] = [:]
        var vanished: [String] = []
        while true {
            let outcome = state.withLockedValue { state -> ClosedOutcome in
                guard let record = state.usable[connection.id] else { return .notUsable }
                if presence != nil {
                    let unencoded = record.rooms.filter { leftFrames.index(forKey: $0) == nil }
                    if !unencoded.isEmpty { return .encode(unencoded) }
                }
                state.usable.removeValue(forKey: connection.id)
                for name in record.rooms {
                    guard let room = state.rooms[name] else { continue }
                    let empty = room.lock.withLock {
                        if room.removeLocked(connection) == true {
                            vanished.append(name)
                            if let frame = leftFrames[name] ?? nil { room.broadcastLocked(frame) }
                        }
                        return room.isEmptyLocked
                    }
                    if empty { Self.evictIfUnused(room, from: &state, metrics: metrics) }
                }
                return .removed
            }
            switch outcome {
            case .notUsable:
                return
            case .encode(let rooms):
                for name in rooms {
                    leftFrames.updateValue(presence?(PresenceChange(kind: .left, room: name, user: connection.user)), forKey: name)
                }
            case .removed:
                metrics.closed(code: code)
                if let onPresenceChange {
                    for room in vanished { onPresenceChange(PresenceChange(kind: .left, room: room, user: connection.user)) }
                }
                onDisconnect?(connection, code)
                return
            }
        }
    }

    private enum ClosedOutcome {
        case notUsable
        /// Encode `user_left` for these rooms, then try again.
        case encode([String])
        case removed
    }

    /// The transport is gone (after cleanup).
    func transportClosed(_ connection: Connection) {
        connectionClosed(connection, code: .abnormal)
        _ = state.withLockedValue { $0.open.removeValue(forKey: connection.id) }
    }

    // MARK: rooms

    /// What a join saw, taken atomically with the membership change.
    public struct JoinSnapshot: Sendable {
        /// The room's users, including the joiner.
        public var members: [String]
        /// The last `seq` delivered to the room's members. Later messages reach the joiner
        /// live; history up to this `seq` comes from the store.
        public var lastSeq: Int
        /// The connection was already a member (the join is idempotent).
        public var wasMember: Bool
    }

    /// Adds `connection` to `room`. Until `completeJoin`, the room's deliveries to it are held
    /// back, so the join's reply (with history up to `lastSeq`) comes first and nothing is lost
    /// or repeated between history and live messages. Returns nil if the connection is no
    /// longer usable.
    ///
    /// `knownSeq` reads the store's latest `seq` in the room; it is used if the room is not
    /// live yet. The hub keeps the room while it runs, so that a message published meanwhile,
    /// even if the room's last member leaves, is sequenced after the `seq` it returns and
    /// reaches the joiner, and one published before is in the store for the joiner's history.
    public func join(
        _ connection: Connection, room name: String, knownSeq: () async throws -> Int
    ) async rethrows -> JoinSnapshot? {
        let pinned = state.withLockedValue { state -> Room? in
            guard state.usable[connection.id] != nil else { return nil }
            let room = Self.room(name, in: &state, lastSeq: nil, metrics: metrics)
            room.joinsInFlight += 1
            return room
        }
        guard let pinned else { return nil }
        let seq: Int
        do {
            seq = try await knownSeq()
        } catch {
            state.withLockedValue { state in
                pinned.joinsInFlight -= 1
                Self.evictIfUnused(pinned, from: &state, metrics: metrics)
            }
            throw error
        }
        return join(connection, room: name, knownSeq: seq, pinned: pinned)
    }

    /// Adds `connection` to `room`, as the async `join` does, with the room's latest `seq`
    /// already known. Only for rooms whose `seq` cannot change while it is read (no store,
    /// or one with a single writer): a room is evicted with its last member, and a `seq` read
    /// before that could miss a message published in between, stalling the new room at the gap.
    public func join(_ connection: Connection, room name: String, knownSeq: Int) -> JoinSnapshot? {
        join(connection, room: name, knownSeq: knownSeq, pinned: nil)
    }

    private func join(_ connection: Connection, room name: String, knownSeq: Int, pinned: Room?) -> JoinSnapshot? {
        // Encoded before the locks (the encoder may call back into the hub), and so also for
        // the repeat joins that send none.
        let joinedFrame = connection.handler == nil ? nil : presence?(PresenceChange(kind: .joined, room: name, user: connection.user))
        var deliveries = 0
        var appeared = false
        var snapshot = state.withLockedValue { state -> JoinSnapshot? in
            if let pinned { pinned.joinsInFlight -= 1 }
            guard let handler = connection.handler, state.usable[connection.id] != nil else {
                if let pinned { Self.evictIfUnused(pinned, from: &state, metrics: metrics) }
                return nil
            }
            let room = pinned ?? Self.room(name, in: &state, lastSeq: knownSeq, metrics: metrics)
            state.usable[connection.id]!.rooms.insert(name)
            return room.lock.withLock {
                deliveries = room.establishLocked(lastSeq: knownSeq)
                if room.containsLocked(connection.id) {
                    connection.outbox.enqueue(.hold(handler, room: name))
                    return JoinSnapshot(members: room.usersLocked, lastSeq: room.lastDeliveredSeqLocked, wasMember: true)
                }
                let firstOfUser = room.addLocked(connection, handler: handler)
                appeared = firstOfUser
                connection.outbox.enqueue(.hold(handler, room: name))
                if firstOfUser, let joinedFrame {
                    room.broadcastLocked(joinedFrame, except: connection.id)
                }
                return JoinSnapshot(members: room.usersLocked, lastSeq: room.lastDeliveredSeqLocked, wasMember: false)
            }
        }
        metrics.delivered(deliveries)
        if appeared { onPresenceChange?(PresenceChange(kind: .joined, room: name, user: connection.user)) }
        snapshot?.members.sort()
        return snapshot
    }

    /// The live room `name`, created if there is none. Call with the hub's lock held.
    private static func room(_ name: String, in state: inout State, lastSeq: Int?, metrics: HubMetrics) -> Room {
        if let room = state.rooms[name] { return room }
        let room = Room(name: name, lastSeq: lastSeq)
        state.rooms[name] = room
        metrics.rooms.record(state.rooms.count)
        return room
    }

    /// Frees `room`'s members, sequencer and outbox links once nobody is in it or joining it.
    /// Call with the hub's lock held; takes the room's.
    private static func evictIfUnused(_ room: Room, from state: inout State, metrics: HubMetrics) {
        guard room.joinsInFlight == 0, state.rooms[room.name] === room, room.lock.withLock({ room.isEmptyLocked }) else { return }
        state.rooms[room.name] = nil
        metrics.rooms.record(state.rooms.count)
    }

    /// Sends the join's reply, then releases the room's deliveries held since `join`.
    /// Call exactly once after every successful `join`, with a nil reply if none is due.
    public func completeJoin(_ connection: Connection, room: String, reply: OutboundFrame?) {
        guard let handler = connection.handler else { return }
        connection.outbox.enqueue(.release(handler, room: room, reply: reply))
    }

    /// Removes `connection` from `room`; returns false if it was not a member. What is
    /// enqueued afterwards (such as the leave's reply) comes after the room's last delivery.
    @discardableResult
    public func leave(_ connection: Connection, room name: String) -> Bool {
        // Encoded before the locks: the encoder may call back into the hub.
        let leftFrame = presence?(PresenceChange(kind: .left, room: name, user: connection.user))
        var vanished = false
        let left = state.withLockedValue { state -> Bool in
            guard state.usable[connection.id]?.rooms.remove(name) == true, let room = state.rooms[name] else { return false }
            let empty = room.lock.withLock {
                if room.removeLocked(connection) == true {
                    vanished = true
                    if let leftFrame { room.broadcastLocked(leftFrame) }
                }
                return room.isEmptyLocked
            }
            if empty { Self.evictIfUnused(room, from: &state, metrics: metrics) }
            return true
        }
        if vanished { onPresenceChange?(PresenceChange(kind: .left, room: name, user: connection.user)) }
        return left
    }

    public func isMember(_ connection: Connection, of room: String) -> Bool {
        state.withLockedValue { $0.usable[connection.id]?.rooms.contains(room) ?? false }
    }

    public func rooms(of connection: Connection) -> [String] {
        state.withLockedValue { $0.usable[connection.id].map { Array($0.rooms).sorted() } ?? [] }
    }

    /// Whether the hub holds state for `room`: then its `seq` must not restart under it.
    public func hasRoom(_ room: String) -> Bool {
        state.withLockedValue { $0.rooms[room] != nil }
    }

    public func members(of room: String) -> [String] {
        guard let room = state.withLockedValue({ $0.rooms[room] }) else { return [] }
        return room.lock.withLock { room.usersLocked }.sorted()
    }

    /// Whether `user` has a connection in `room` on this hub.
    public func isPresent(_ user: String, in room: String) -> Bool {
        guard let room = state.withLockedValue({ $0.rooms[room] }) else { return false }
        return room.lock.withLock { room.hasUserLocked(user) }
    }

    /// The rooms this hub keeps, with their users (a cluster node's share of presence).
    public func localPresence() -> [String: [String]] {
        let rooms = state.withLockedValue { Array($0.rooms.values) }
        var presence: [String: [String]] = [:]
        for room in rooms {
            let users = room.lock.withLock { room.usersLocked }
            if !users.isEmpty { presence[room.name] = users }
        }
        return presence
    }

    /// The rooms this hub keeps, each with the last `seq` delivered to its members (nil while
    /// a join is still reading it). What a backplane must bring from other nodes.
    public func liveRooms() -> [String: Int?] {
        let rooms = state.withLockedValue { Array($0.rooms.values) }
        var live: [String: Int?] = [:]
        for room in rooms { live[room.name] = room.lock.withLock { room.lastDeliveredSeqIfKnownLocked } }
        return live
    }

    /// The last `seq` delivered in `room`, nil if the hub does not keep the room or a join is
    /// still reading its position.
    public func lastDeliveredSeq(in room: String) -> Int? {
        guard let room = state.withLockedValue({ $0.rooms[room] }) else { return nil }
        return room.lock.withLock { room.lastDeliveredSeqIfKnownLocked }
    }

    /// Closes every connection in `room` on this hub with `code`: for a room whose stream
    /// this node can no longer deliver without a gap (what it missed is gone from the store),
    /// since members see a room's messages with no gap unless the server disconnected them.
    /// They reconnect and rejoin with `since`, and learn what they missed (`recovered`).
    public func closeMembers(of room: String, code: CloseCode, reason: String) {
        guard let room = state.withLockedValue({ $0.rooms[room] }) else { return }
        let members = room.lock.withLock { room.connectionsLocked }
        for connection in members { connection.close(code, reason: reason) }
    }

    /// Whether messages above the last delivered one wait in `room` for a lower `seq`: a gap
    /// only a fetch from the store can fill.
    public func hasGap(in room: String) -> Bool {
        guard let room = state.withLockedValue({ $0.rooms[room] }) else { return false }
        return room.lock.withLock { room.hasHeldMessagesLocked }
    }

    /// Delivers message `seq` of `room` to its members, in `seq` order: a message whose
    /// predecessors have not been published yet waits for them. Publish every `seq` the
    /// store assigned, exactly once, or the room stalls at the gap.
    public func publish(room name: String, seq: Int, frame: OutboundFrame) {
        guard let room = state.withLockedValue({ $0.rooms[name] }) else { return }
        let deliveries = room.lock.withLock { room.publishLocked(seq: seq, frame) }
        metrics.delivered(deliveries)
    }

    /// Delivers an unsequenced frame to every member of `room`.
    public func broadcast(room name: String, frame: OutboundFrame, except: Connection? = nil) {
        guard let room = state.withLockedValue({ $0.rooms[name] }) else { return }
        let deliveries = room.lock.withLock { room.broadcastLocked(frame, except: except?.id) }
        metrics.delivered(deliveries)
    }

    /// Delivers an unsequenced frame to the members of `room` that are not `user`'s
    /// connections: a cluster's presence event about a user never goes to that user.
    public func broadcast(room name: String, frame: OutboundFrame, exceptUser user: String) {
        guard let room = state.withLockedValue({ $0.rooms[name] }) else { return }
        let deliveries = room.lock.withLock { room.broadcastLocked(frame, exceptUser: user) }
        metrics.delivered(deliveries)
    }

    // MARK: shutdown

    /// Graceful shutdown: stop accepting, close every connection with `code` after what is
    /// already queued for it, wait up to `drainTimeout` for the peers to finish the close
    /// handshake, then drop whoever is left.
    public func shutdown(code: CloseCode = .goingAway, reason: String = "server shutting down", drainTimeout: Duration = .seconds(10)) async {
        let connections = state.withLockedValue { state -> [Connection] in
            state.accepting = false
            return Array(state.open.values)
        }
        logger.info("hub shutting down", metadata: ["connections": "\(connections.count)"])
        for connection in connections { connection.close(code, reason: reason) }
        await waitForTransports(until: ContinuousClock.now + drainTimeout)
        let stragglers = state.withLockedValue { Array($0.open.values) }
        if !stragglers.isEmpty {
            logger.info("dropping connections that did not drain", metadata: ["connections": "\(stragglers.count)"])
        }
        for connection in stragglers {
            guard let handler = connection.handler else { continue }
            connection.eventLoop.execute { handler.onLoop.closeTransport() }
        }
        // Closing is immediate on the event loops; wait for it so shutdown returns with
        // every transport gone.
        await waitForTransports(until: ContinuousClock.now + .seconds(1))
    }

    private func waitForTransports(until deadline: ContinuousClock.Instant) async {
        while openTransportCount > 0, ContinuousClock.now < deadline {
            try? await Task.sleep(for: .milliseconds(10))
        }
    }
}

extension Hub: Service {
    /// Runs the connections' event handlers, in one structured task group, until graceful
    /// shutdown; then waits for the handlers in flight. Add the hub to the application's
    /// services, before the HTTP server, so it stops after the connections have closed:
    /// `Application(router:, server: .switchboard(hub: hub, …), services: [hub])`.
    public func run() async {
        await withGracefulShutdownHandler {
            await dispatcher.run()
        } onGracefulShutdown: {
            self.dispatcher.finish()
        }
    }
}
