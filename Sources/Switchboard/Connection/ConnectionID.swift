import Atomics

/// Process-unique identity of a connection; never reused.
public struct ConnectionID: Hashable, Sendable, CustomStringConvertible {
    public let rawValue: UInt64

    private static let counter = ManagedAtomic<UInt64>(0)

    static func next() -> ConnectionID {
        ConnectionID(rawValue: counter.wrappingIncrementThenLoad(ordering: .relaxed))
    }

    public var description: String { "c\(rawValue)" }
}
