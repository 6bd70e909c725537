import NIOCore
import NIOWebSocket

/// The life of one WebSocket connection, without any I/O.
///
/// Every way a connection can end arrives here as an event; the machine answers with the
/// actions the I/O layer must perform. Two of the project's connection rules live in this
/// type: whichever side detects failure first triggers cleanup, and cleanup's effects run
/// exactly once however often it is requested. Close frames are best effort: the machine never
/// asks for a second close frame, and never for one after the transport is gone.
///
/// It owns the read side's rules too (`readState`, `inboundFlow`, the rate limiter): which
/// frames are still read, which messages are handed to the event handlers, how a protocol
/// violation or a flood stops the read side, and when the socket is not read because the
/// handlers are behind. Like postgres-nio's connection state machine owns read backpressure,
/// so that each of these rules is a transition with a unit test and the handler only acts.
public struct ConnectionStateMachine: Sendable {
    public enum State: Equatable, Sendable {
        /// Reading and writing normally.
        case open
        /// We sent a close frame and wait for the peer's (or the close timeout).
        case closing(CloseCode)
        /// The transport is closed or being closed; nothing more is written.
        case closed(CloseCode)
    }

    /// What the I/O layer must do, in this order: send the close frame, release the hub's
    /// hold on the connection (cleanup), then close the transport now or after a timeout.
    public struct Action: Equatable, Sendable {
        public var sendClose: CloseCode? = nil
        public var closeReason: String = ""
        public var cleanup: CloseCode? = nil
        public var closeTransport: CloseTransport = .no

        public enum CloseTransport: Equatable, Sendable {
            case no
            /// Close right away; a close frame written just before is best effort.
            case now
            /// Close once the close frame has been written (or failed to be).
            case whenCloseFrameWritten
            /// Wait for the peer's close frame at most this long, then close.
            case afterCloseTimeout
        }

        public static let none = Action()
    }

    /// What the read side still does with the peer's frames.
    public enum ReadState: Equatable, Sendable {
        /// Frames are read and whole messages handed to the event handlers.
        case reading
        /// The peer kept sending after `rate_limited` errors: no message is handed on any
        /// more (control frames still are, so its close frame is answered). The 4029 waits in
        /// the inbox behind the messages handed before it.
        case flooded
        /// The peer broke the protocol: nothing it sends is looked at any more (after a
        /// framing error the stream has no frame boundaries left to find).
        case violated(CloseCode)
    }

    /// Inbound backpressure: whether NIO's `read` reaches the socket.
    public enum InboundFlow: Equatable, Sendable {
        case flowing
        /// The inbox is at its high watermark: reads are held back, so the kernel stops
        /// taking the peer's bytes and its TCP window fills.
        case paused
        /// Paused, and NIO asked for a read meanwhile: it is issued when the inbox drains.
        case pausedReadHeldBack
    }

    /// How the read side stops, queued behind the messages already handed on, so that the
    /// replies to those go out before the close.
    public enum ReadStop: Equatable, Sendable {
        case violation(CloseCode, reason: String)
        case flood
    }

    /// What to do with a whole message the assembler produced.
    public enum MessageAction: Equatable, Sendable {
        /// Hand it to the event handlers with the rate limiter's verdict (`.allow` or
        /// `.refuse`, which they answer with `rate_limited`).
        case hand(InboundRateLimiter.Decision)
        /// Nothing more is handed on (closing, closed, flooded or violated).
        case drop
        /// The message is not handled; queue this stop behind what was handed before it.
        case stop(ReadStop)
    }

    /// What to do about a protocol violation the read side found.
    public enum ViolationAction: Equatable, Sendable {
        case none
        /// Queue the stop behind the messages handed before it, and fail the connection
        /// directly if the handlers have not reached it within the close timeout (a handler
        /// stuck forever must not keep a violating peer's connection open).
        case queueWithBackstop(ReadStop)
        /// No handlers to wait for (echo mode): fail the connection now.
        case failNow(CloseCode, reason: String)
    }

    public private(set) var state: State = .open
    /// Whether cleanup was already returned; it is returned at most once.
    public private(set) var cleanedUp = false
    /// Pings and the ping timeout.
    public struct Heartbeat: Equatable, Sendable {
        public var interval: TimeAmount
        public var timeout: TimeAmount

        public init(interval: TimeAmount = .seconds(20), timeout: TimeAmount = .seconds(40)) {
            self.interval = interval
            self.timeout = timeout
        }
    }

    /// What a heartbeat tick asks for.
    public enum HeartbeatAction: Equatable, Sendable {
        case none
        case sendPing
        /// The peer showed no sign of life within the timeout: perform this (no close frame).
        case drop(Action)
    }

    public private(set) var readState: ReadState = .reading
    public private(set) var inboundFlow: InboundFlow = .flowing
    private var rateLimiter: InboundRateLimiter?
    /// Whether messages go to event handlers that answer in order (so a violation waits for
    /// them), or straight back to the peer (echo mode, nothing to wait for).
    private let violationsWaitForHandlers: Bool
    public let heartbeat: Heartbeat
    /// When the peer last showed it is alive: a frame it sent while it was also reading.
    public private(set) var lastSignOfLife: NIODeadline
    private var nextPing: NIODeadline

    public init(
        rateLimits: InboundRateLimiter.Limits? = nil, violationsWaitForHandlers: Bool = true,
        heartbeat: Heartbeat = Heartbeat(), openedAt now: NIODeadline = .now()
    ) {
        self.rateLimiter = rateLimits.map(InboundRateLimiter.init(limits:))
        self.violationsWaitForHandlers = violationsWaitForHandlers
        self.heartbeat = heartbeat
        self.lastSignOfLife = now
        self.nextPing = now + heartbeat.interval
    }

    /// Whether application data may still be queued for this connection.
    public var acceptsOutbound: Bool { state == .open }
    /// Whether inbound messages are still handed to the application.
    public var acceptsInbound: Bool { state == .open }
    public var isClosed: Bool { if case .closed = state { return true } else { return false } }

    // MARK: events

    /// The peer sent a close frame. Answer it (echoing its code, or 1000) and close.
    public mutating func closeFrameReceived(_ code: CloseCode?) -> Action {
        switch state {
        case .open:
            let reply = code.map { $0.isValidOnWire ? $0 : .protocolError } ?? .normal
            state = .closed(code ?? .noStatus)
            return Action(sendClose: reply, cleanup: takeCleanup(code ?? .noStatus), closeTransport: .whenCloseFrameWritten)
        case .closing(let ours):
            // The peer answered our close: the handshake is complete.
            state = .closed(ours)
            return Action(cleanup: takeCleanup(ours), closeTransport: .now)
        case .closed:
            return .none
        }
    }

    /// We decided to close: protocol error (1002/1007/1009), server shutdown (1001),
    /// slow consumer (4008), flood (4029) or an application request. Cleanup happens now, so
    /// the hub stops enqueuing; the transport closes when the peer answers or on timeout.
    public mutating func closeRequested(_ code: CloseCode, reason: String = "") -> Action {
        switch state {
        case .open:
            state = .closing(code)
            return Action(sendClose: code, closeReason: reason, cleanup: takeCleanup(code), closeTransport: .afterCloseTimeout)
        case .closing, .closed:
            return .none
        }
    }

    /// The peer broke the protocol (1002), sent invalid UTF-8 (1007) or too big a message
    /// (1009). RFC 6455 §7.1.7 says to fail the connection: send our close frame and close the
    /// transport once it is written, without waiting for the peer, whose reading side is no
    /// longer trusted (and after a framing error the frame parser cannot find frame boundaries again).
    public mutating func protocolViolated(_ code: CloseCode, reason: String = "") -> Action {
        switch state {
        case .open:
            state = .closed(code)
            return Action(sendClose: code, closeReason: reason, cleanup: takeCleanup(code), closeTransport: .whenCloseFrameWritten)
        case .closing(let ours):
            state = .closed(ours)
            return Action(cleanup: takeCleanup(ours), closeTransport: .now)
        case .closed:
            return .none
        }
    }

    /// The outbound queue overflowed: the peer is not keeping up. Stop queueing for it at once
    /// (cleanup), queue 4008 behind its backlog so a peer that is merely slow still learns
    /// why, and close as soon as that frame is written; the close timeout bounds the wait for
    /// a peer that never reads again. Its answer to our close frame is not awaited.
    public mutating func outboundOverflowed() -> Action {
        switch state {
        case .open:
            state = .closed(.slowConsumer)
            return Action(sendClose: .slowConsumer, cleanup: takeCleanup(.slowConsumer), closeTransport: .whenCloseFrameWritten)
        case .closing(let code):
            state = .closed(code)
            return Action(cleanup: takeCleanup(code), closeTransport: .now)
        case .closed:
            return .none
        }
    }

    /// The peer sent nothing, not even a pong, within the ping timeout. It is not listening,
    /// so no close frame: drop the transport (the peer, if alive, sees 1006).
    public mutating func pingTimedOut() -> Action {
        dropTransport()
    }

    /// Our close frame went unanswered for the close timeout.
    public mutating func closeTimedOut() -> Action {
        switch state {
        case .closing(let code):
            state = .closed(code)
            return Action(cleanup: takeCleanup(code), closeTransport: .now)
        case .open, .closed:
            return .none
        }
    }

    /// A read or a write failed (reset, broken pipe, TLS error). Never retried.
    public mutating func transportFailed() -> Action {
        dropTransport()
    }

    /// The peer is unreachable or the socket is broken: no close frame, close now, 1006.
    private mutating func dropTransport() -> Action {
        switch state {
        case .open, .closing:
            state = .closed(.abnormal)
            return Action(cleanup: takeCleanup(.abnormal), closeTransport: .now)
        case .closed:
            return .none
        }
    }

    /// The transport is gone (`channelInactive`). Last event of every connection.
    public mutating func transportClosed() -> Action {
        switch state {
        case .open:
            state = .closed(.abnormal)
            return Action(cleanup: takeCleanup(.abnormal))
        case .closing(let code):
            state = .closed(code)
            return Action(cleanup: takeCleanup(code))
        case .closed(let code):
            return Action(cleanup: takeCleanup(code))
        }
    }

    // MARK: heartbeat

    /// Bytes arrived from the peer at `now`. They are a sign of life only if the peer also
    /// reads what it is sent (`peerIsReading`: its backlog is below NIO's high-water mark).
    /// A peer that writes and never reads (pinging as fast as it can, say) must not stay
    /// alive by writing: its backlog grows until the ping timeout or the queue limit drops it.
    public mutating func bytesArrived(at now: NIODeadline, peerIsReading: Bool) {
        if peerIsReading { lastSignOfLife = now }
    }

    /// Called once per heartbeat sweep: drops a peer silent for the timeout, or pings when a
    /// ping is due (only while open: no pings after our close frame).
    public mutating func heartbeatTick(at now: NIODeadline) -> HeartbeatAction {
        if now - lastSignOfLife >= heartbeat.timeout {
            let action = pingTimedOut()
            return action == .none ? .none : .drop(action)
        }
        guard now >= nextPing else { return .none }
        nextPing = now + heartbeat.interval
        return state == .open ? .sendPing : .none
    }

    // MARK: read side

    /// Whether a frame with this opcode is still looked at. While closing only the peer's
    /// close frame matters (RFC 6455 §5.5.1: no data or pongs are owed after our close frame).
    public func admitsFrame(_ opcode: WebSocketOpcode) -> Bool {
        if case .violated = readState { return false }
        switch state {
        case .open: return true
        case .closing: return opcode == .connectionClose
        case .closed: return false
        }
    }

    /// Whether the socket's bytes are parsed at all: not after a violation.
    public var readsFrames: Bool {
        if case .violated = readState { return false }
        return true
    }

    /// A whole message arrived at `now`.
    public mutating func messageReceived(at now: NIODeadline) -> MessageAction {
        guard state == .open, readState == .reading else { return .drop }
        let verdict = rateLimiter?.admit(at: now) ?? .allow
        guard verdict != .flood else {
            readState = .flooded
            return .stop(.flood)
        }
        return .hand(verdict)
    }

    /// The parser or the assembler found a protocol violation (1002, 1007, 1009). Whatever
    /// came before it is still answered; nothing after it is read.
    public mutating func violationFound(_ code: CloseCode, reason: String) -> ViolationAction {
        if case .violated = readState { return .none }
        readState = .violated(code)
        guard state == .open else { return .none }
        return violationsWaitForHandlers ? .queueWithBackstop(.violation(code, reason: reason)) : .failNow(code, reason: reason)
    }

    /// The inbox reached its high watermark.
    public mutating func inboxFilled() {
        if inboundFlow == .flowing { inboundFlow = .paused }
    }

    /// NIO asks to read the socket. Returns whether to pass the read on.
    public mutating func readRequested() -> Bool {
        switch inboundFlow {
        case .flowing:
            return true
        case .paused, .pausedReadHeldBack:
            inboundFlow = .pausedReadHeldBack
            return false
        }
    }

    /// The handlers brought the inbox down to its low watermark. Returns whether a held-back
    /// read must be issued now.
    public mutating func inboxDrained() -> Bool {
        defer { inboundFlow = .flowing }
        return inboundFlow == .pausedReadHeldBack
    }

    private mutating func takeCleanup(_ code: CloseCode) -> CloseCode? {
        if cleanedUp { return nil }
        cleanedUp = true
        return code
    }
}
