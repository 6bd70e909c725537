/// The client's knobs; the defaults suit an interactive client.
public struct ClientConfiguration: Sendable {
    public var backoff = Backoff()
    /// Reconnect attempts after a connection is lost before giving up; nil: never give up.
    public var maxReconnectAttempts: Int?
    /// A ping is sent this often; a server that has answered nothing (not even a pong) for
    /// one interval after a ping is taken as dead and the connection is dropped.
    public var heartbeatInterval: Duration = .seconds(15)
    /// Default bound of `send`, `join`, `leave` and `history`, including any wait for a
    /// reconnect.
    public var requestTimeout: Duration = .seconds(10)
    /// Bound of the login request.
    public var loginTimeout: Duration = .seconds(10)
    public var tls: TLSMode = .system
    /// The largest message accepted from the server.
    public var maxMessageSize = 4 << 20

    public init() {}
}
