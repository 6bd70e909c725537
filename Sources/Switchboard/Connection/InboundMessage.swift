import NIOCore

/// A complete message from the peer, handed from the event loop to the connection's
/// event-handling task.
public struct InboundMessage: Sendable {
    public enum Kind: Sendable, Equatable {
        case text, binary
        /// The read side found a protocol violation after the messages before this one. The
        /// event task fails the connection when it gets here, so the replies to earlier
        /// messages still go out first.
        case violation(CloseCode, String)
    }
    public var kind: Kind
    public var data: ByteBuffer
    /// What the connection's rate limiter said about this message.
    public var verdict: InboundRateLimiter.Decision = .allow
}
