import NIOCore

/// A complete message from the peer, handed from the event loop to the connection's
/// event handlers.
public struct InboundMessage: Sendable {
    public enum Kind: Sendable, Equatable {
        case text, binary
    }
    public var kind: Kind
    public var data: ByteBuffer
    /// What the connection's rate limiter said about this message: `.allow`, or `.refuse`
    /// (answered with `rate_limited`). A flood never reaches the handlers: the read side stops
    /// (`ConnectionStateMachine.ReadStop.flood`).
    public var verdict: InboundRateLimiter.Decision = .allow
}
