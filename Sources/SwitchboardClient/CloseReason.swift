import SwitchboardProtocol

/// Why the server closed the connection, from its close frame's code (PROTOCOL.md, "Close codes").
public enum CloseReason: Sendable, Equatable, CustomStringConvertible {
    /// 4008: the client read too slowly and its outbound queue overflowed.
    case slowConsumer
    /// 4029: the client kept exceeding its rate limit.
    case flood
    /// 1001: the server is shutting down.
    case goingAway
    /// 1009: the client sent a message over the server's limit.
    case messageTooBig
    case normal
    case other(UInt16)

    public init(code: UInt16) {
        switch CloseCode(rawValue: code) {
        case .slowConsumer: self = .slowConsumer
        case .flood: self = .flood
        case .goingAway: self = .goingAway
        case .messageTooBig: self = .messageTooBig
        case .normal: self = .normal
        default: self = .other(code)
        }
    }

    public var description: String {
        switch self {
        case .slowConsumer: "slow consumer (4008)"
        case .flood: "flood (4029)"
        case .goingAway: "server going away (1001)"
        case .messageTooBig: "message too big (1009)"
        case .normal: "normal closure (1000)"
        case .other(let code): "close code \(code)"
        }
    }
}
