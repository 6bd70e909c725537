import Foundation
import Logging
import PostgresNIO
import Switchboard
@testable import SwitchboardPostgres
import Testing

/// The store contract on a real PostgreSQL: what `InMemoryRoomStore` promises on one node,
/// shared by every node of a cluster.
@Suite("PostgresRoomStore", .enabled(if: TestDatabase.isConfigured), .serialized)
struct PostgresRoomStoreTests {
    @Test("concurrent appends get seqs 1...N with no gap and no repeat")
    func concurrentAppendsAreGapless() async throws {
        let url = try await TestDatabase.create()
        let seqs = try await TestDatabase.withCluster(url: url) { cluster in
            try await withThrowingTaskGroup(of: Int.self) { group in
                for index in 0..<60 {
                    group.addTask {
                        try await cluster.store.append(room: "race", from: "u\(index % 3)", message: "m\(index)", sent: Date()).seq
                    }
                }
                return try await group.reduce(into: []) { $0.append($1) }
            }
        }
        #expect(seqs.sorted() == Array(1...60))
    }

    @Test("a resend with the same idempotency key answers the first seq and stores nothing")
    func idempotencyKeyRecognisesResend() async throws {
        let url = try await TestDatabase.create()
        try await TestDatabase.withCluster(url: url) { cluster in
            let first = try await cluster.store.append(room: "r", from: "ann", message: "hello", sent: Date(), idempotencyKey: "k-1")
            let again = try await cluster.store.append(room: "r", from: "ann", message: "hello", sent: Date(), idempotencyKey: "k-1")
            let otherUser = try await cluster.store.append(room: "r", from: "bob", message: "hello", sent: Date(), idempotencyKey: "k-1")
            #expect(first.seq == 1)
            #expect(again == .duplicate(seq: 1))
            #expect(otherUser.seq == 2)
            let position = try await cluster.store.position(room: "r")
            #expect(position.seq == 2)
        }
    }

    @Test("the epoch names the room's life and survives a second node and a reconnect")
    func epochIsStable() async throws {
        let url = try await TestDatabase.create()
        let first = try await TestDatabase.withCluster(url: url, nodeName: "a") { try await $0.store.position(room: "r") }
        let second = try await TestDatabase.withCluster(url: url, nodeName: "b") { try await $0.store.position(room: "r") }
        let other = try await TestDatabase.withCluster(url: url, nodeName: "b") { try await $0.store.position(room: "s") }
        #expect(first == second)
        #expect(!first.epoch.isEmpty)
        #expect(other.epoch != first.epoch)
    }

    @Test("retention trims the oldest messages; recovery from before them is reported incomplete")
    func retentionAndCompleteness() async throws {
        let url = try await TestDatabase.create()
        try await TestDatabase.withCluster(url: url, configure: { $0.roomRetention = 5 }) { cluster in
            for index in 1...8 { _ = try await cluster.store.append(room: "r", from: "ann", message: "m\(index)", sent: Date()) }
            let fromStart = try await cluster.store.history(room: "r", after: 0, through: .max, limit: 100)
            #expect(fromStart.messages.map(\.seq) == [4, 5, 6, 7, 8])
            #expect(!fromStart.complete)
            let recent = try await cluster.store.history(room: "r", after: 5, through: .max, limit: 2)
            #expect(recent.messages.map(\.seq) == [6, 7])
            #expect(recent.complete)
            #expect(recent.more)
            let older = try await cluster.store.history(room: "r", before: 7, limit: 2)
            #expect(older.messages.map(\.seq) == [5, 6])
            #expect(older.more)
            let oldest = try await cluster.store.history(room: "r", before: 5, limit: 2)
            #expect(oldest.messages.map(\.seq) == [4])
            #expect(!oldest.more)
            let caughtUp = try await cluster.store.history(room: "r", after: 8, through: .max, limit: 10)
            #expect(caughtUp.messages.isEmpty && caughtUp.complete)
        }
    }

    @Test("a message keeps its sender, text (16 KiB of four-byte characters) and time to the millisecond")
    func messageRoundTrip() async throws {
        let url = try await TestDatabase.create()
        let sent = Date(timeIntervalSince1970: 1_764_000_000.123)
        let text = String(repeating: "😀", count: 4096)
        let read = try await TestDatabase.withCluster(url: url) { cluster in
            _ = try await cluster.store.append(room: "r", from: "ann", message: text, sent: sent)
            return try await cluster.store.history(room: "r", after: 0, through: .max, limit: 1).messages
        }
        #expect(read.count == 1)
        #expect(read.first?.message == text)
        #expect(read.first?.from == "ann")
        #expect(abs((read.first?.sent.timeIntervalSince1970 ?? 0) - sent.timeIntervalSince1970) < 0.001)
    }

    @Test("reading the history of rooms nobody joined creates no rooms (ever new names cannot grow the table)")
    func historyCreatesNoRooms() async throws {
        let url = try await TestDatabase.create()
        let rooms = try await TestDatabase.withCluster(url: url) { cluster in
            for index in 0..<50 {
                let forward = try await cluster.store.history(room: "probe\(index)", after: 0, through: .max, limit: 10)
                let backward = try await cluster.store.history(room: "probe\(index)", before: 100, limit: 10)
                #expect(forward.messages.isEmpty && backward.messages.isEmpty && forward.complete)
            }
            return try await cluster.database.client.query("SELECT count(*) FROM switchboard_rooms").decode(Int.self).reduce(0) { $0 + $1 }
        }
        #expect(rooms == 0)
    }

    @Test("a copy of the database (a restore) gives every room a new epoch and keeps its seq; the original keeps its epochs")
    func restoredCopyStartsNewEpochs() async throws {
        let url = try await TestDatabase.create()
        let before = try await TestDatabase.withCluster(url: url) { cluster in
            _ = try await cluster.store.append(room: "r", from: "ann", message: "one", sent: Date())
            return try await cluster.store.position(room: "r")
        }
        // CREATE DATABASE … TEMPLATE copies every row into a database with a new OID: what
        // a dump restored into a fresh database is.
        let original = String(URLComponents(string: url)!.path.dropFirst())
        let copy = original + "_copy"
        try await TestDatabase.admin { admin in
            try await admin.query(PostgresQuery(unsafeSQL: "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '\(original)'"), logger: Logger(label: "t"))
            try await admin.query(PostgresQuery(unsafeSQL: "CREATE DATABASE \(copy) TEMPLATE \(original)"), logger: Logger(label: "t"))
        }
        var components = URLComponents(string: url)!
        components.path = "/" + copy
        let restored = try await TestDatabase.withCluster(url: components.string!) { try await $0.store.position(room: "r") }
        let again = try await TestDatabase.withCluster(url: url) { try await $0.store.position(room: "r") }
        #expect(restored.seq == before.seq)
        #expect(restored.epoch != before.epoch)
        #expect(again == before)
    }

    @Test("nodes starting at once migrate the schema once, without errors")
    func concurrentMigration() async throws {
        let url = try await TestDatabase.create()
        try await withThrowingTaskGroup(of: Void.self) { group in
            for node in 0..<4 {
                group.addTask { _ = try await TestDatabase.withCluster(url: url, nodeName: "n\(node)") { try await $0.store.position(room: "r") } }
            }
            try await group.waitForAll()
        }
        let versions = try await TestDatabase.withCluster(url: url) { cluster in
            try await cluster.database.client.query("SELECT count(*) FROM switchboard_schema_version").decode(Int.self).reduce(0) { $0 + $1 }
        }
        #expect(versions == 1)
    }

    @Test("a ticket is redeemable once, from any node, and not after it expired")
    func ticketsAreClusterWide() async throws {
        let url = try await TestDatabase.create()
        let ticket = try await TestDatabase.withCluster(url: url, nodeName: "a") { try await $0.tickets.issue(for: "ann") }
        try await TestDatabase.withCluster(url: url, nodeName: "b", configure: { $0.ticketLifetime = .milliseconds(300) }) { cluster in
            let first = try await cluster.tickets.redeem(ticket)
            let second = try await cluster.tickets.redeem(ticket)
            #expect(first == "ann")
            #expect(second == nil)
            let short = try await cluster.tickets.issue(for: "bob")
            try await Task.sleep(for: .milliseconds(600))
            let late = try await cluster.tickets.redeem(short)
            #expect(late == nil)
        }
    }

    @Test("a query that overruns the deadline is answered unavailable at the deadline, though the database would finish it much later; the pool recovers")
    func overrunningQueryIsCutAtTheDeadline() async throws {
        let url = try await TestDatabase.create()
        try await TestDatabase.withCluster(url: url, configure: { $0.queryTimeout = .milliseconds(500) }) { cluster in
            let started = ContinuousClock.now
            await #expect(throws: StoreUnavailableError.self) {
                _ = try await cluster.database.run { connection in
                    for try await _ in try await connection.sql("SELECT pg_sleep(10)") {}
                    return 0
                }
            }
            #expect(ContinuousClock.now - started < .seconds(3))
            let position = try await cluster.store.position(room: "r")
            #expect(position.seq == 0)
        }
    }

    @Test("an unreachable database is StoreUnavailableError within the deadline, not a hang or another error")
    func unreachableIsUnavailable() async throws {
        let url = try await TestDatabase.create()
        try await TestDatabase.withCluster(url: url, configure: { $0.queryTimeout = .milliseconds(500) }) { cluster in
            _ = try await cluster.store.position(room: "r")
            // Every pooled connection of this database is cut, and new ones are refused.
            try await TestDatabase.admin { admin in
                let name = String(URLComponents(string: url)!.path.dropFirst())
                try await admin.query(PostgresQuery(unsafeSQL: "ALTER DATABASE \(name) ALLOW_CONNECTIONS false"), logger: Logger(label: "t"))
                try await admin.query(PostgresQuery(unsafeSQL: "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '\(name)'"), logger: Logger(label: "t"))
            }
            let started = ContinuousClock.now
            await #expect(throws: StoreUnavailableError.self) {
                _ = try await cluster.store.append(room: "r", from: "ann", message: "lost?", sent: Date())
            }
            #expect(ContinuousClock.now - started < .seconds(3))
            #expect(!cluster.database.isReachable)
            try await TestDatabase.admin { admin in
                let name = String(URLComponents(string: url)!.path.dropFirst())
                try await admin.query(PostgresQuery(unsafeSQL: "ALTER DATABASE \(name) ALLOW_CONNECTIONS true"), logger: Logger(label: "t"))
            }
            let position = try await cluster.store.position(room: "r")
            #expect(position.seq == 0)
            #expect(cluster.database.isReachable)
        }
    }
}
