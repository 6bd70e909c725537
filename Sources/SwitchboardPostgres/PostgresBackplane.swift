import Logging
import NIOCore
import PostgresNIO
import Switchboard

/// Brings every other node's messages and presence news to this node's hub.
///
/// One dedicated connection LISTENs (a pooled one would be recycled and lose the LISTEN).
/// A message's notice carries the message when it fits in NOTIFY's 8000 bytes, so a message
/// crosses PostgreSQL once per node, never once per member; a bigger one, a gap (a notice
/// lost while the listener reconnected) or a room whose position moved without a notice is
/// fetched from the table. The hub's sequencer puts everything back in `seq` order and
/// drops what it already delivered, so a message that arrives twice (this node's own, by
/// notice and by its sender) goes out once.
///
/// Notifications are lost while the listener is down, so after each (re)LISTEN every live
/// room is caught up from the table, and a poll every `pollInterval` compares each live
/// room's position with what was delivered: a lost notice delays a message by at most that.
final class PostgresBackplane: Sendable {
    let url: PostgresURL
    let store: PostgresRoomStore
    let presence: PostgresPresence
    let database: ClusterDatabase
    let hub: Hub
    let messageFrame: @Sendable (StoredMessage) -> OutboundFrame
    let presenceFrame: @Sendable (PresenceChange) -> OutboundFrame?
    let pollInterval: Duration
    let eventLoopGroup: any EventLoopGroup
    let logger: Logger
    private let rooms = DirtySet<String>()
    /// Rooms fetched at once, and messages per fetch: a node far behind catches up in slices.
    private static let fetchLimit = 500

    init(
        url: PostgresURL, store: PostgresRoomStore, presence: PostgresPresence, database: ClusterDatabase, hub: Hub,
        messageFrame: @escaping @Sendable (StoredMessage) -> OutboundFrame,
        presenceFrame: @escaping @Sendable (PresenceChange) -> OutboundFrame?,
        pollInterval: Duration, eventLoopGroup: any EventLoopGroup, logger: Logger
    ) {
        self.eventLoopGroup = eventLoopGroup
        self.url = url
        self.store = store
        self.presence = presence
        self.database = database
        self.hub = hub
        self.messageFrame = messageFrame
        self.presenceFrame = presenceFrame
        self.pollInterval = pollInterval
        self.logger = logger
    }

    /// Listens, fetches and polls until cancelled.
    func run() async {
        await withTaskCancellationHandler {
            await withDiscardingTaskGroup { group in
                group.addTask { await self.listen() }
                group.addTask { await self.fetch() }
                group.addTask { await self.poll() }
            }
        } onCancel: {
            self.rooms.finish()
        }
    }

    // MARK: listening

    private func listen() async {
        let backoff = Backoff()
        var attempt = 0
        while !Task.isCancelled {
            var connection: PostgresConnection?
            do {
                let established = try await PostgresConnection.connect(
                    on: eventLoopGroup.any(),
                    configuration: try url.connectionConfiguration(applicationName: "switchboard-listener"),
                    id: 0, logger: logger
                )
                connection = established
                // Notices are handled on the connection's event loop as they arrive: no task
                // hop per message (an async sequence cost a thread switch for each).
                established.addListener(channel: "switchboard") { [self] _, notification in
                    receive(notification.payload)
                }
                try await established.query("LISTEN switchboard", logger: logger)
                if attempt > 0 { logger.notice("backplane listening again", metadata: ["after attempts": "\(attempt)"]) }
                attempt = 0
                database.markReachable(true)
                // What was notified while nobody listened is in the tables.
                rooms.mark(hub.liveRooms().keys)
                await catchUpPresence()
                try await withTaskCancellationHandler {
                    try await established.closeFuture.get()
                } onCancel: {
                    established.close().whenComplete { _ in }
                }
                throw PostgresClusterError("the listener's connection closed")
            } catch {
                if !Task.isCancelled {
                    // Once per outage at warning level; the retries that follow at debug.
                    logger.log(
                        level: attempt == 0 ? .warning : .debug, "backplane listener lost",
                        metadata: ["error": "\(String(reflecting: error))", "attempt": "\(attempt)"]
                    )
                }
                // A listener that cannot even connect means the node cannot reach its database.
                if connection == nil { database.markReachable(false) }
            }
            try? await connection?.close()
            attempt += 1
            try? await Task.sleep(for: backoff.delay(attempt: attempt))
        }
    }

    private func receive(_ payload: String) {
        switch ClusterNotice.decode(payload) {
        case .message(let message):
            guard hub.hasRoom(message.room) else { return }
            // This node's own messages were delivered when they were stored. (A room still
            // reading its position keeps the message until it knows where it stands.)
            if let delivered = hub.lastDeliveredSeq(in: message.room), message.seq <= delivered { return }
            hub.publish(room: message.room, seq: message.seq, frame: messageFrame(message))
            if hub.hasGap(in: message.room) { rooms.mark(message.room) }
        case .messageAt(let room, let seq):
            if let delivered = hub.lastDeliveredSeq(in: room), seq > delivered { rooms.mark(room) }
        case .presence(let change):
            presence.apply(change) { announce(change) }
        case nil:
            logger.warning("backplane ignored a notice it could not read", metadata: ["payload": "\(payload.prefix(200))"])
        }
    }

    private func announce(_ change: PresenceChange) {
        if hub.hasRoom(change.room), let frame = presenceFrame(change) {
            hub.broadcast(room: change.room, frame: frame, exceptUser: change.user)
        }
    }

    /// Presence news lost while nobody listened, worked out from the tables.
    private func catchUpPresence() async {
        do {
            try await presence.reconcile(hub: hub) { announce($0) }
        } catch {
            logger.debug("presence catch-up failed", metadata: ["error": "\(String(reflecting: error))"])
        }
    }

    // MARK: fetching what notices did not bring

    private func fetch() async {
        while let dirty = await rooms.next() {
            for room in dirty {
                guard let delivered = hub.lastDeliveredSeq(in: room) else { continue }
                do {
                    let messages = try await store.messages(of: room, after: delivered, limit: Self.fetchLimit)
                    if let first = messages.first, first.seq != delivered + 1 {
                        // Retention removed what this node never delivered (it was cut off
                        // from the database for longer than the room keeps): its members
                        // would wait at the gap for ever. They are closed instead, and
                        // rejoin with `since`, learning they missed some (`recovered: false`).
                        logger.error("messages lost to retention before this node delivered them; closing the room's members", metadata: [
                            "room": "\(room)", "delivered": "\(delivered)", "oldest kept": "\(first.seq)",
                        ])
                        hub.closeMembers(of: room, code: .internalError, reason: "missed messages; rejoin with since")
                        continue
                    }
                    for message in messages {
                        hub.publish(room: room, seq: message.seq, frame: messageFrame(message))
                    }
                    if messages.count == Self.fetchLimit { rooms.mark(room) }
                } catch {
                    logger.debug("backplane fetch failed", metadata: ["room": "\(room)", "error": "\(String(reflecting: error))"])
                    // The poll marks it again once the database answers.
                }
            }
        }
    }

    private func poll() async {
        while !Task.isCancelled {
            try? await Task.sleep(for: pollInterval)
            let live = hub.liveRooms()
            presence.follow(only: live.keys)
            guard !live.isEmpty else { continue }
            let names = Array(live.keys)
            do {
                let positions = try await database.run { connection in
                    var positions: [(String, Int)] = []
                    for try await row in try await connection.sql(
                        "SELECT room, seq FROM switchboard_rooms WHERE room = ANY(\(names))"
                    ).decode((String, Int).self) {
                        positions.append(row)
                    }
                    return positions
                }
                for (room, seq) in positions {
                    if let delivered = live[room] ?? nil, seq > delivered { rooms.mark(room) }
                }
            } catch {
                logger.debug("backplane poll failed", metadata: ["error": "\(String(reflecting: error))"])
            }
        }
    }
}
