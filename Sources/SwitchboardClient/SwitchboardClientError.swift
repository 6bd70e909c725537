import SwitchboardProtocol

/// What a client call throws: the server's protocol errors, each its own case, and the
/// client's own failures.
public enum SwitchboardClientError: Error, Sendable, Equatable {
    case notInRoom(String)
    case rateLimited(String)
    /// The server could not reach its storage; the event was not handled and may be retried.
    case unavailable(String)
    case tooManyRooms(String)
    case badPayload(String)
    case forbidden(String)
    /// Any other error code the server sent.
    case server(code: ErrorCode, message: String)
    /// No answer (or no connection to send on) within the call's timeout.
    case timedOut
    /// The client stopped for good; no call can succeed any more.
    case stopped(DisconnectReason)
    /// Not an `http`, `https`, `ws` or `wss` URL with a host.
    case invalidURL(String)
    /// The server sent something that is not what PROTOCOL.md says it sends.
    case malformedReply(String)

    /// Whether the same event may succeed later (the server was busy, overloaded or slow),
    /// as opposed to a refusal that would be repeated.
    public var isWorthRetrying: Bool {
        switch self {
        case .rateLimited, .unavailable, .timedOut, .malformedReply: true
        case .server(let code, _): code == .internal
        case .notInRoom, .tooManyRooms, .badPayload, .forbidden, .stopped, .invalidURL: false
        }
    }

    init(_ payload: ErrorPayload) {
        switch payload.code {
        case .notInRoom: self = .notInRoom(payload.message)
        case .rateLimited: self = .rateLimited(payload.message)
        case .unavailable: self = .unavailable(payload.message)
        case .tooManyRooms: self = .tooManyRooms(payload.message)
        case .badPayload: self = .badPayload(payload.message)
        case .forbidden: self = .forbidden(payload.message)
        default: self = .server(code: payload.code, message: payload.message)
        }
    }
}
