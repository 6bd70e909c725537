import NIOCore

/// A complete message from the peer, handed from the event loop to the connection's
/// event-handling task.
public struct InboundMessage: Sendable {
    public enum Kind: Sendable { case text, binary }
    public var kind: Kind
    public var data: ByteBuffer
    /// What the connection's rate limiter said about this message.
    public var verdict: InboundRateLimiter.Decision = .allow
}
