import Logging
import NIOCore
import NIOConcurrencyHelpers

/// A live WebSocket connection as the application sees it. Thread-safe: `send` and `close`
/// may be called from anywhere; they enqueue, and the connection's event loop does the work.
public final class Connection: Sendable, Hashable, CustomStringConvertible {
    public let id: ConnectionID
    /// The authenticated user; fixed for the connection's whole life.
    public let user: String
    public let remoteAddress: SocketAddress?
    public let eventLoop: any EventLoop
    let outbox: EventLoopOutbox
    /// The handler, from `attach` until its channel is gone (`detach`): the handler owns this
    /// connection, so the reference back must end with the channel or both leak. Not `weak`:
    /// a weak reference gives the handler a side-table reference count, and every retain and
    /// release of it on the fan-out path then took the slow path (~7 % of the server's CPU
    /// at 100k deliveries/s, by perf).
    /// (A pthread lock, not `Mutex`: ThreadSanitizer cannot see a `Mutex`'s futex.)
    private let attached = NIOLockedValueBox<LoopBoundHandler?>(nil)

    init(user: String, remoteAddress: SocketAddress?, outbox: EventLoopOutbox) {
        self.id = .next()
        self.user = user
        self.remoteAddress = remoteAddress
        self.eventLoop = outbox.eventLoop
        self.outbox = outbox
    }

    /// Set once, on the event loop, before the connection is registered with the hub.
    func attach(_ handler: WebSocketConnectionHandler) {
        attached.withLockedValue { $0 = LoopBoundHandler(handler) }
    }

    /// The channel is gone: nothing will be written to it again.
    func detach() {
        attached.withLockedValue { $0 = nil }
    }

    /// The connection's handler, or nil once its channel is gone (nothing to write to).
    var handler: LoopBoundHandler? { attached.withLockedValue { $0 } }

    /// Queues a frame for this connection. Never blocks; a peer that cannot keep up is
    /// closed with 4008 by its own write side.
    public func send(_ frame: OutboundFrame) {
        guard let handler else { return }
        outbox.enqueue(.deliver(handler, frame))
    }

    /// Closes politely with `code`, after what is already queued.
    public func close(_ code: CloseCode = .normal, reason: String = "") {
        guard let handler else { return }
        outbox.enqueue(.close(handler, code, reason))
    }

    /// Fails the connection for a protocol violation, after what is already queued.
    func fail(_ code: CloseCode, reason: String) {
        guard let handler else { return }
        outbox.enqueue(.fail(handler, code, reason))
    }

    /// The event handlers caught up: the read side may read the socket again.
    func resumeReading() {
        guard let handler else { return }
        eventLoop.execute { handler.onLoop.resumeReading() }
    }

    public var description: String { "\(id)(\(user))" }

    var logMetadata: Logger.Metadata {
        ["conn": "\(id)", "user": "\(user)", "remote": "\(remoteAddress.map { "\($0)" } ?? "-")"]
    }

    public static func == (lhs: Connection, rhs: Connection) -> Bool { lhs.id == rhs.id }
    public func hash(into hasher: inout Hasher) { hasher.combine(id) }
}

/// A connection handler reference that may cross threads but is only dereferenced on its
/// channel's event loop (the outbox guarantees that).
///
/// One reference, not two: room member lists hold one of these per member, and every
/// delivery copies it (a second, to the event loop, cost a retain and a release per delivery).
struct LoopBoundHandler: @unchecked Sendable {
    private let handler: WebSocketConnectionHandler

    init(_ handler: WebSocketConnectionHandler) {
        self.handler = handler
    }

    var onLoop: WebSocketConnectionHandler {
        assert(handler.connection.eventLoop.inEventLoop)
        return handler
    }

    func isSame(as other: LoopBoundHandler) -> Bool { handler === other.handler }

    /// Immutable, so readable from any thread.
    var connection: Connection { handler.connection }
    var user: String { handler.connection.user }
}
