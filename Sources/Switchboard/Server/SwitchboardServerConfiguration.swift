import HummingbirdCore
import NIOCore

/// How the HTTP + WebSocket child channel behaves.
public struct SwitchboardServerConfiguration: Sendable {
    public var connection = ConnectionConfiguration()
    /// Largest message the echo endpoint accepts (Autobahn's performance cases send 16 MiB).
    public var echoMaxMessageSize = 16 * 1024 * 1024
    /// Whether the application may accept connections in `.echo` mode. Only echo
    /// connections get echo's larger limits; events connections keep their own.
    public var echoEnabled = false
    /// How long a plain-HTTP request may take to arrive, from its head to the end of its
    /// body; the connection is closed after that (`RequestDeadlineHandler`). nil: no limit.
    public var requestTimeout: Duration? = .seconds(30)
    /// Plain HTTP connections idle this long are closed, so idle keep-alive connections do
    /// not pile up (Hummingbird's default is no timeout).
    public var http1 = HTTP1Channel.Configuration(idleTimeout: .seconds(60))
    /// Plain HTTP routes answered on the event loop before the router sees them (see
    /// `EventLoopRoutes`); none by default.
    public var eventLoopRoutes = EventLoopRoutes()
    /// The size of a connection's first socket read buffer. NIO keeps a channel's read
    /// buffer for reuse as long as the channel lives, so this is memory every idle
    /// connection holds (NIO's default is 2 KiB; a chat event fits in 256 bytes, and an
    /// upgrade request takes a few reads). Larger reads still happen, into buffers that are
    /// not kept.
    public var readBufferSize = 256

    public init() {}

    /// One socket read per loop pass: with more, NIO's read-buffer pool keeps every buffer
    /// a burst needed (up to four per connection, for the connection's whole life).
    static let maxMessagesPerRead: UInt = 1
}
