import NIOCore

/// The life of one WebSocket connection, without any I/O.
///
/// Every way a connection can end arrives here as an event; the machine answers with the
/// actions the I/O layer must perform. Two rules of DEVELOPERS.md live in this type:
/// whichever side detects failure first triggers cleanup, and cleanup's effects run exactly
/// once however often it is requested. Close frames are best effort: the machine never asks
/// for a second close frame, and never for one after the transport is gone.
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

    public private(set) var state: State = .open
    /// Whether cleanup was already returned; it is returned at most once.
    public private(set) var cleanedUp = false

    public init() {}

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
    /// longer trusted (and the frame decoder may not parse anything more).
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

    private mutating func takeCleanup(_ code: CloseCode) -> CloseCode? {
        if cleanedUp { return nil }
        cleanedUp = true
        return code
    }
}
