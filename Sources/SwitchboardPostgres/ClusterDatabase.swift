import Atomics
import NIOConcurrencyHelpers
import Logging
import NIOCore
import PostgresNIO
import Switchboard

/// The cluster's way to the database: every query goes through `run`, which bounds it in time
/// and turns "the database cannot be reached" into `StoreUnavailableError` (so the client
/// gets `unavailable`, never a false ack and never `internal`), and keeps `isReachable`
/// for `/healthz` and the upgrade gate.
///
/// The pool (`PostgresClient`) reconnects by itself, but a request for a connection waits
/// while the database is down: the deadline is what turns that wait into an answer.
public final class ClusterDatabase: Sendable {
    public let client: PostgresClient
    let timeout: Duration
    let logger: Logger
    private let reachable = ManagedAtomic(true)

    init(client: PostgresClient, timeout: Duration, logger: Logger) {
        self.client = client
        self.timeout = timeout
        self.logger = logger
    }

    /// False from a failure to reach the database until the next success (a query's, or the
    /// listener's reconnection).
    public var isReachable: Bool { reachable.load(ordering: .relaxed) }

    func markReachable(_ value: Bool) {
        if reachable.exchange(value, ordering: .relaxed) != value {
            if value {
                logger.notice("database reachable again")
            } else {
                logger.error("database unreachable")
            }
        }
    }

    /// Runs `body` on a pooled connection within the deadline.
    ///
    /// Past the deadline the waiting is over either way: a request still waiting for a
    /// connection is cancelled, and a query in flight has its connection closed, which fails
    /// it at once (a query on a dead connection does not heed cancellation, and the task
    /// group would wait for it: requests on such a connection went unanswered for 20 s and
    /// more). The pool replaces the closed connection.
    ///
    /// A connection closed that way may be handed out once more before the pool notices;
    /// a request refused for that (`clientClosedConnection`: it never left this process)
    /// is tried once more on another connection.
    func run<T: Sendable>(_ body: @escaping @Sendable (PostgresConnection) async throws -> T) async throws -> T {
        do {
            let result: T
            do {
                result = try await attempt(body)
            } catch let error as PSQLError where error.code == .clientClosedConnection {
                result = try await attempt(body)
            }
            markReachable(true)
            return result
        } catch let error as StoreUnavailableError {
            markReachable(false)
            throw error
        } catch {
            guard Self.meansUnreachable(error) else { throw error }
            markReachable(false)
            throw StoreUnavailableError(String(reflecting: error))
        }
    }

    private func attempt<T: Sendable>(_ body: @escaping @Sendable (PostgresConnection) async throws -> T) async throws -> T {
        let leased = NIOLockedValueBox<PostgresConnection?>(nil)
        return try await withThrowingTaskGroup(of: T?.self) { group in
            group.addTask {
                try await self.client.withConnection { connection in
                    leased.withLockedValue { $0 = connection }
                    defer { leased.withLockedValue { $0 = nil } }
                    return try await body(connection)
                }
            }
            group.addTask {
                try await Task.sleep(for: self.timeout)
                return nil
            }
            guard let first = try await group.next() else { throw StoreUnavailableError("no answer") }
            group.cancelAll()
            guard let value = first else {
                // Under the lock: a connection already handed back to the pool (and
                // perhaps to someone else) is not ours to close.
                leased.withLockedValue { connection in connection?.close().whenComplete { _ in } }
                throw StoreUnavailableError("no answer within \(self.timeout)")
            }
            return value
        }
    }

    /// Connection-level failures and the server's "shutting down / cannot connect now /
    /// out of resources" classes; anything else (a bug in a query, a constraint) is not an
    /// outage and stays an error of its own.
    static func meansUnreachable(_ error: any Error) -> Bool {
        if error is CancellationError { return true }
        guard let error = error as? PSQLError else { return error is ChannelError || error is IOError }
        guard error.code == .server else { return true }
        let state = error.serverInfo?[.sqlState] ?? ""
        return ["08", "53", "57"].contains(String(state.prefix(2)))
    }
}

extension PostgresConnection {
    /// A query whose logging is the pool's business (`ClusterDatabase.run`'s callers).
    func sql(_ query: PostgresQuery) async throws -> PostgresRowSequence {
        try await self.query(query, logger: Self.quiet)
    }

    static let quiet = Logger(label: "switchboard.postgres", factory: { _ in SwiftLogNoOpLogHandler() })
}

