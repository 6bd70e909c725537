import Atomics
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

    /// Runs `body` against the pool within the deadline.
    func run<T: Sendable>(_ body: @escaping @Sendable (PostgresClient) async throws -> T) async throws -> T {
        do {
            let result = try await withThrowingTaskGroup(of: T?.self) { group in
                group.addTask { try await body(self.client) }
                group.addTask {
                    try await Task.sleep(for: self.timeout)
                    return nil
                }
                // The first to finish decides; the other is cancelled (a connection request
                // waiting in the pool is cancellable).
                guard let first = try await group.next() else { throw StoreUnavailableError("no answer") }
                group.cancelAll()
                guard let value = first else {
                    throw StoreUnavailableError("no answer within \(self.timeout)")
                }
                return value
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
