/// The store cannot be reached right now (its database is down, or did not answer in time).
/// Nothing was done: the event router answers `unavailable`, which tells the client the event
/// was not handled and may be retried, never a false ack and never `internal`.
public struct StoreUnavailableError: Error, Sendable, CustomStringConvertible {
    public var reason: String

    public init(_ reason: String) {
        self.reason = reason
    }

    public var description: String { "store unavailable: \(reason)" }
}
