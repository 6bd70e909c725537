import Atomics

/// Process-wide facts the HTTP side reports: whether the server is draining.
public final class ChatState: Sendable {
    private let draining = ManagedAtomic(false)

    public init() {}

    public var isDraining: Bool { draining.load(ordering: .relaxed) }
    func beginDraining() { draining.store(true, ordering: .relaxed) }
}
