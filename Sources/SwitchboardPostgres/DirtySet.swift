import NIOConcurrencyHelpers

/// Keys waiting for work, and a wake-up for the one task that does it. Marking a key twice
/// before the worker runs costs one piece of work, not two: notices for a room arriving in a
/// burst become one fetch.
final class DirtySet<Key: Hashable & Sendable>: Sendable {
    private let keys = NIOLockedValueBox(Set<Key>())
    private let wakeUps: AsyncStream<Void>
    private let wake: AsyncStream<Void>.Continuation

    init() {
        (wakeUps, wake) = AsyncStream.makeStream(of: Void.self, bufferingPolicy: .bufferingNewest(1))
    }

    func mark(_ key: Key) {
        let added = keys.withLockedValue { $0.insert(key).inserted }
        if added { wake.yield() }
    }

    func mark(_ more: some Sequence<Key>) {
        let added = keys.withLockedValue { keys in more.reduce(false) { keys.insert($1).inserted || $0 } }
        if added { wake.yield() }
    }

    /// Waits until something is marked (or returns nil when `finish` was called), then takes
    /// everything marked so far.
    func next() async -> Set<Key>? {
        for await _ in wakeUps {
            let taken = keys.withLockedValue { keys -> Set<Key> in
                defer { keys.removeAll() }
                return keys
            }
            if !taken.isEmpty { return taken }
        }
        return nil
    }

    func finish() { wake.finish() }
}
