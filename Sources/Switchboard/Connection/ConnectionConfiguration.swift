import NIOCore

/// Limits and timers of one WebSocket connection.
public struct ConnectionConfiguration: Sendable {
    /// Largest inbound message; above it the connection is closed with 1009. PROTOCOL.md: 64 KiB.
    public var maxInboundMessageSize: Int = 64 * 1024
    /// Outbound queue bound by count. Gorilla's chat example uses 256 slots; NIO's pending
    /// writes are cheap (broadcast buffers are shared), so a longer queue rides out bursts
    /// such as a join storm without dropping a reader that is merely busy.
    public var maxQueuedMessages: Int = 4096
    /// Outbound queue bound by bytes: what the server holds for a peer that stopped reading.
    public var maxQueuedBytes: Int = 4 * 1024 * 1024
    /// How often the server pings. PROTOCOL.md: 20 s.
    public var pingInterval: TimeAmount = .seconds(20)
    /// Silence (not even a pong) after which the peer is dropped. PROTOCOL.md: 2 × ping interval.
    public var pingTimeout: TimeAmount? = nil
    /// How long the server waits for the peer's close frame after sending its own.
    public var closeTimeout: TimeAmount = .seconds(5)
    /// SO_SNDBUF for each connection; nil keeps the kernel's autotuning. The kernel's send
    /// buffer sits in front of the outbound queue, so for a peer that stopped reading the
    /// server holds up to this plus `maxQueuedBytes` before dropping it.
    public var socketSendBufferSize: Int? = nil
    /// Inbound event rate limit (`rate_limited`, then 4029); nil disables it.
    public var rateLimit: InboundRateLimiter.Limits? = InboundRateLimiter.Limits()
    /// How long a client may take to send its HTTP request head (slowloris protection).
    public var handshakeTimeout: TimeAmount = .seconds(10)
    /// Inbound messages buffered for the event handlers before reading from the socket pauses.
    /// Reading resumes at half of it, so a steady sender is not stopped and restarted on
    /// every event. 64 bounds what a connection whose handlers fall behind can hold to
    /// 64 × `maxInboundMessageSize` (4 MiB at the default; ~6 KiB for 100-byte chat
    /// messages), while a client that waits for its acks has one or a few events in flight
    /// and never comes near it: only a client that pipelines ahead of slow handlers pauses.
    public var inboundBufferedMessages: Int = 64
    /// permessage-deflate (RFC 7692), offered to clients that ask for it; nil (the default)
    /// never compresses. Costs memory per connection (zlib state) and CPU per message.
    public var compression: PerMessageDeflate.Configuration? = nil

    public init() {}

    public var effectivePingTimeout: TimeAmount { pingTimeout ?? .nanoseconds(pingInterval.nanoseconds * 2) }
}
