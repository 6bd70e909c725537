/// The error codes of PROTOCOL.md, carried in `error` events.
public struct ErrorCode: RawRepresentable, Hashable, Sendable, Codable, CustomStringConvertible {
    public var rawValue: String
    public init(rawValue: String) { self.rawValue = rawValue }

    /// The message is not JSON.
    public static let badJSON = ErrorCode(rawValue: "bad_json")
    /// No or non-string `type`, a bad `id`, or a binary frame.
    public static let badEvent = ErrorCode(rawValue: "bad_event")
    public static let unknownEvent = ErrorCode(rawValue: "unknown_event")
    /// Payload fields missing, of the wrong type or out of range.
    public static let badPayload = ErrorCode(rawValue: "bad_payload")
    public static let notInRoom = ErrorCode(rawValue: "not_in_room")
    public static let forbidden = ErrorCode(rawValue: "forbidden")
    public static let rateLimited = ErrorCode(rawValue: "rate_limited")
    /// The connection is already in the most rooms allowed.
    public static let tooManyRooms = ErrorCode(rawValue: "too_many_rooms")
    /// The server cannot reach its storage or cluster right now; the event was not handled
    /// and may be retried.
    public static let unavailable = ErrorCode(rawValue: "unavailable")
    public static let `internal` = ErrorCode(rawValue: "internal")

    public var description: String { rawValue }
}

/// Thrown by an event handler to answer with an `error` event; the connection stays open.
public struct EventError: Error, Sendable, Equatable {
    public var code: ErrorCode
    public var message: String

    public init(_ code: ErrorCode, _ message: String) {
        self.code = code
        self.message = message
    }
}
