import Foundation
import Logging
import NIOConcurrencyHelpers
import PostgresNIO
import Switchboard

/// This node's share of the cluster's presence, kept in `switchboard_presence`, and the
/// cluster's members of a room.
///
/// The hub says when a user's first connection here joined a room or their last one left
/// (`changed`); the worker then makes the node's row match what the hub holds *now*. Working
/// from the hub's current truth rather than a log of changes makes every step idempotent and
/// order-free: a failed write is simply retried, a join and leave that cancel out cost one
/// no-op, and after an outage (or after other nodes declared this one dead and purged its
/// rows) marking every local key again repairs everything. `switchboard_presence_set`
/// announces a user's first row anywhere and last row anywhere, once, to every node.
public final class PostgresPresence: PresenceDirectory {
    struct Key: Hashable, Sendable {
        var room: String
        var user: String
    }

    let database: ClusterDatabase
    let nodeID: UUID
    let logger: Logger
    private let pending = DirtySet<Key>()
    /// For each room this node follows: the users its members were told of (the members of
    /// the room's first join here, then every notice since). Joins answer from it, so a
    /// joiner's list and the news after it agree; it makes the news idempotent (a notice
    /// that changes nothing is not passed on) and lets a node that missed notices (its
    /// listener reconnecting) work out what it missed. Changed and announced under its lock.
    private let told = NIOLockedValueBox([String: Set<String>]())
    /// Rows written at once: a join storm's thousands of first joins go in parallel.
    private static let parallelWrites = 8

    init(database: ClusterDatabase, nodeID: UUID, logger: Logger) {
        self.database = database
        self.nodeID = nodeID
        self.logger = logger
    }

    /// For `Hub(onPresenceChange:)`.
    public func changed(_ change: PresenceChange) {
        pending.mark(Key(room: change.room, user: change.user))
    }

    /// Marks every user this node's hub holds, so the rows are written again (after this
    /// node was declared dead and purged).
    func reassert(from hub: Hub) {
        pending.mark(hub.localPresence().flatMap { room, users in users.map { Key(room: room, user: $0) } })
    }

    /// The room's users as this node's members know them (what they were told: every
    /// notice passed on so far), and the joiner. So a joiner's `members` and the news that
    /// follows its join agree: a user in the list is not announced to it again, and one who
    /// is not will be (even a user on this node whose first join's notice is on its way).
    /// Only the room's first join on this node reads the table.
    public func members(of room: String, joiner: String, local: [String]) async throws -> [String] {
        if let known = told.withLockedValue({ $0[room] }) { return known.union([joiner]).sorted() }
        let node = nodeID
        let others = try await database.run { connection in
            var users: [String] = []
            for try await user in try await connection.sql(
                "SELECT DISTINCT username FROM switchboard_presence WHERE room = \(room) AND node <> \(node)"
            ).decode(String.self) {
                users.append(user)
            }
            return users
        }
        let known = told.withLockedValue { told in
            if told[room] == nil { told[room] = Set(local).union(others) }
            return told[room]!
        }
        return known.union([joiner]).sorted()
    }

    /// A notice from the cluster: `announce` runs (under the lock, so no join reads the
    /// room's users between the change and its announcement) unless it changes nothing this
    /// node's members were told. Rooms this node does not follow are always announced.
    func apply(_ change: PresenceChange, announce: () -> Void) {
        told.withLockedValue { told in
            guard var users = told[change.room] else { return announce() }
            let changed = switch change.kind {
            case .joined: users.insert(change.user).inserted
            case .left: users.remove(change.user) != nil
            }
            told[change.room] = users
            if changed { announce() }
        }
    }

    /// Forgets the rooms this node no longer keeps (their next first join here starts over).
    func follow(only rooms: some Sequence<String>) {
        let live = Set(rooms)
        told.withLockedValue { told in told = told.filter { live.contains($0.key) } }
    }

    /// After notices may have been lost (the listener reconnected): announces the changes
    /// between what this node's members were told and the cluster's presence now (the other
    /// nodes' rows and this hub's own users). A notice racing this read can be announced
    /// once more; never lost.
    func reconcile(hub: Hub, announce: (PresenceChange) -> Void) async throws {
        let rooms = Array(told.withLockedValue { $0.keys })
        guard !rooms.isEmpty else { return }
        let node = nodeID
        let others = try await database.run { connection in
            var users: [String: Set<String>] = [:]
            for try await (room, user) in try await connection.sql(
                "SELECT DISTINCT room, username FROM switchboard_presence WHERE room = ANY(\(rooms)) AND node <> \(node)"
            ).decode((String, String).self) {
                users[room, default: []].insert(user)
            }
            return users
        }
        let local = hub.localPresence()
        told.withLockedValue { told in
            for room in rooms {
                guard let before = told[room] else { continue }
                let now = others[room, default: []].union(local[room] ?? [])
                for user in now.subtracting(before).sorted() { announce(PresenceChange(kind: .joined, room: room, user: user)) }
                for user in before.subtracting(now).sorted() { announce(PresenceChange(kind: .left, room: room, user: user)) }
                told[room] = now
            }
        }
    }

    /// Writes pending changes until cancelled.
    func run(hub: Hub) async {
        while let keys = await pending.next() {
            var failed: [Key] = []
            var remaining = keys.makeIterator()
            await withTaskGroup(of: Key?.self) { group in
                func start() -> Bool {
                    guard let key = remaining.next() else { return false }
                    group.addTask { await self.write(key, present: hub.isPresent(key.user, in: key.room)) ? nil : key }
                    return true
                }
                for _ in 0..<Self.parallelWrites {
                    if !start() { break }
                }
                while let result = await group.next() {
                    if let key = result { failed.append(key) }
                    _ = start()
                }
            }
            if !failed.isEmpty {
                // The database is out of reach: try again in a moment, with what the hub
                // holds by then.
                try? await Task.sleep(for: .seconds(1))
                if Task.isCancelled { return }
                pending.mark(failed)
            }
        }
    }

    func finish() { pending.finish() }

    private func write(_ key: Key, present: Bool) async -> Bool {
        let node = nodeID
        do {
            try await database.run { connection in
                _ = try await connection.sql(
                    "SELECT switchboard_presence_set(\(key.room), \(key.user), \(node), \(present))"
                )
            }
            return true
        } catch {
            logger.debug("presence write failed", metadata: ["room": "\(key.room)", "error": "\(String(reflecting: error))"])
            return false
        }
    }
}
