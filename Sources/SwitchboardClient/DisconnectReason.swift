/// Why the client is (for now or for good) not connected.
public enum DisconnectReason: Sendable, Equatable, CustomStringConvertible {
    /// The server closed the connection with a close frame.
    case closed(CloseReason)
    /// The connection ended without a close frame: the server died, the network dropped, or
    /// the server stopped answering pings (heartbeat timeout).
    case connectionLost
    /// Login or upgrade refused the credentials (401); retrying cannot help.
    case unauthorized
    /// The server refused this client (403, e.g. its origin); retrying cannot help.
    case forbidden
    /// Connecting failed (refused, DNS, TLS, 503, timeout); retried with backoff.
    case connectFailed(String)
    /// A ready ticket is single-use: without credentials there is nothing to reconnect with.
    case ticketSpent
    /// The configured number of attempts ran out.
    case gaveUp(attempts: Int)
    /// `close()` was called.
    case closedByClient

    public var description: String {
        switch self {
        case .closed(let reason): "closed by server: \(reason)"
        case .connectionLost: "connection lost"
        case .unauthorized: "unauthorized (401)"
        case .forbidden: "forbidden (403)"
        case .connectFailed(let why): "connect failed: \(why)"
        case .ticketSpent: "ticket spent, no credentials to reconnect"
        case .gaveUp(let attempts): "gave up after \(attempts) attempts"
        case .closedByClient: "closed"
        }
    }
}
