/// A WebSocket close status code (RFC 6455 §7.4) plus the application codes of PROTOCOL.md.
public struct CloseCode: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
    public var rawValue: UInt16
    public init(rawValue: UInt16) { self.rawValue = rawValue }

    public static let normal = CloseCode(rawValue: 1000)
    /// The server is shutting down; clients should reconnect (elsewhere).
    public static let goingAway = CloseCode(rawValue: 1001)
    public static let protocolError = CloseCode(rawValue: 1002)
    public static let unsupportedData = CloseCode(rawValue: 1003)
    /// Local only: the peer's close frame carried no code. Never sent.
    public static let noStatus = CloseCode(rawValue: 1005)
    /// Local only: the connection ended without a close handshake. Never sent.
    public static let abnormal = CloseCode(rawValue: 1006)
    public static let invalidPayload = CloseCode(rawValue: 1007)
    public static let policyViolation = CloseCode(rawValue: 1008)
    public static let messageTooBig = CloseCode(rawValue: 1009)
    public static let internalError = CloseCode(rawValue: 1011)
    /// The connection's outbound queue overflowed: it could not keep up.
    public static let slowConsumer = CloseCode(rawValue: 4008)
    /// The client kept exceeding its rate limit.
    public static let flood = CloseCode(rawValue: 4029)

    /// Whether a peer may put this code in a close frame (RFC 6455 §7.4.1–7.4.2).
    public var isValidOnWire: Bool {
        switch rawValue {
        case 1000...1003, 1007...1011: return true
        case 3000...4999: return true
        default: return false
        }
    }

    public var description: String { String(rawValue) }
}
