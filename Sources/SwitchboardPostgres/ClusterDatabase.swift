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

    /// Where the deadlines run.
    let eventLoop: any EventLoop

    init(client: PostgresClient, timeout: Duration, eventLoop: any EventLoop, logger: Logger) {
        self.client = client
        self.eventLoop = eventLoop
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
    /// A connection closed that way may be handed out again before the pool notices; a
    /// request refused for that (it never left this process) is tried again, a few times.
    func run<T: Sendable>(_ body: @escaping @Sendable (PostgresConnection) async throws -> T) async throws -> T {
        do {
            var tries = 0
            while true {
                do {
                    let result = try await attempt(body)
                    markReachable(true)
                    return result
                } catch where Self.neverLeftThisProcess(error) && tries < Self.closedConnectionRetries {
                    // The pool learns of a closed connection a moment after it closed.
                    tries += 1
                    try await Task.sleep(for: .milliseconds(10 * tries))
                }
            }
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
        let answer = AnswerOnce<T>()
        return try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { continuation in
                answer.wait(continuation)
                // Unstructured on purpose, and ended by its query: postgres-nio can lose a
                // query written to a connection that closes at that very moment (its
                // promise is never completed), and a task group would wait for such a child
                // for ever. The caller is answered at the deadline whatever this task does.
                let work = Task {
                    do {
                        let value = try await self.client.withConnection { connection in
                            guard !connection.isClosed else { throw ClosedConnectionError() }
                            leased.withLockedValue { $0 = connection }
                            defer { leased.withLockedValue { $0 = nil } }
                            return try await body(connection)
                        }
                        answer.give(.success(value))
                    } catch {
                        answer.give(.failure(error))
                    }
                }
                let timeout = self.timeout
                let deadline = eventLoop.scheduleTask(in: .nanoseconds(Int64(timeout.components.seconds) * 1_000_000_000 + timeout.components.attoseconds / 1_000_000_000)) {
                    guard answer.give(.failure(StoreUnavailableError("no answer within \(timeout)"))) else { return }
                    work.cancel()
                    // Under the lock: a connection already handed back to the pool (and
                    // perhaps to someone else) is not ours to close.
                    let closing = leased.withLockedValue { connection -> Bool in
                        connection?.close().whenComplete { _ in }
                        return connection != nil
                    }
                    self.logger.debug("database deadline passed", metadata: ["closed its connection": "\(closing)"])
                }
                answer.onAnswer { deadline.cancel() }
            }
        } onCancel: {
            answer.give(.failure(CancellationError()))
        }
    }

    static let closedConnectionRetries = 5

    /// The request was refused before it was sent: the connection it got had closed.
    static func neverLeftThisProcess(_ error: any Error) -> Bool {
        if error is ClosedConnectionError { return true }
        return (error as? PSQLError)?.code == .clientClosedConnection
    }

    /// Connection-level failures and the server's "shutting down / cannot connect now /
    /// out of resources" classes; anything else (a bug in a query, a constraint) is not an
    /// outage and stays an error of its own.
    static func meansUnreachable(_ error: any Error) -> Bool {
        if error is CancellationError || error is ClosedConnectionError { return true }
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

/// The pool handed out a connection that has closed meanwhile: nothing was sent on it.
struct ClosedConnectionError: Error {}

/// One answer for a caller, whichever comes first: the query's, the deadline's or the
/// caller's cancellation. The others find it taken.
final class AnswerOnce<T: Sendable>: Sendable {
    private struct State {
        var continuation: CheckedContinuation<T, any Error>?
        var early: Result<T, any Error>?
        var answered = false
        var onAnswer: (@Sendable () -> Void)?
    }

    private let state = NIOLockedValueBox(State())

    func wait(_ continuation: CheckedContinuation<T, any Error>) {
        let early = state.withLockedValue { state -> Result<T, any Error>? in
            if let early = state.early { return early }
            state.continuation = continuation
            return nil
        }
        if let early { continuation.resume(with: early) }
    }

    /// Runs `action` once the answer is given (at once if it already was).
    func onAnswer(_ action: @escaping @Sendable () -> Void) {
        let now = state.withLockedValue { state -> Bool in
            if state.answered { return true }
            state.onAnswer = action
            return false
        }
        if now { action() }
    }

    /// Gives the answer; false if one was given already.
    @discardableResult
    func give(_ result: Result<T, any Error>) -> Bool {
        let taken = state.withLockedValue { state -> (CheckedContinuation<T, any Error>?, (@Sendable () -> Void)?)? in
            guard !state.answered else { return nil }
            state.answered = true
            let continuation = state.continuation
            state.continuation = nil
            if continuation == nil { state.early = result }
            defer { state.onAnswer = nil }
            return (continuation, state.onAnswer)
        }
        guard let (continuation, action) = taken else { return false }
        continuation?.resume(with: result)
        action?()
        return true
    }
}

