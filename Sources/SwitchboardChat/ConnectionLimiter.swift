import Atomics
import Metrics
import NIOConcurrencyHelpers
import NIOCore

/// Caps WebSocket connections, in all and per remote address, so that one client cannot
/// take every connection (file descriptors, memory) the server has. Counted from the upgrade
/// decision to the channel's close, so an upgrade in flight counts too, and every admitted
/// connection is released exactly once, however it ends.
public final class ConnectionLimiter: Sendable {
    public struct Limits: Sendable, Equatable {
        /// WebSocket connections in all; 0 for no limit.
        public var maxConnections = 100_000
        /// WebSocket connections per remote address; 0 for no limit.
        public var maxConnectionsPerAddress = 1_000
        /// Whether loopback clients skip the per-address limit. They are this host: a reverse
        /// proxy on the same machine (every client would share its address) or a benchmark.
        public var exemptLoopback = true
        public init() {}
    }

    public enum Refusal: Equatable, Sendable {
        /// The server is full (answer 503).
        case serverFull
        /// This address has its share (answer 429).
        case addressFull
    }

    public let limits: Limits
    private let total = ManagedAtomic(0)
    private let perAddress = NIOLockedValueBox<[String: Int]>([:])
    private let refusedServerFull = Counter(label: "switchboard_connections_refused_total", dimensions: [("reason", "max_connections")])
    private let refusedAddressFull = Counter(
        label: "switchboard_connections_refused_total", dimensions: [("reason", "max_connections_per_address")]
    )

    public init(limits: Limits = .init()) {
        self.limits = limits
    }

    /// Admits one more connection from `channel`'s peer, released when the channel closes; or
    /// says why not.
    public func admit(_ channel: any Channel) -> Refusal? {
        let address = channel.remoteAddress
        let key = address?.ipAddress ?? "unknown"
        let perAddressLimit = limits.exemptLoopback && Self.isLoopback(address) ? 0 : limits.maxConnectionsPerAddress
        if let refusal = admit(key, perAddressLimit: perAddressLimit) { return refusal }
        channel.closeFuture.whenComplete { [self] _ in release(key, counted: perAddressLimit > 0) }
        return nil
    }

    /// Connections admitted and not yet closed.
    public var count: Int { total.load(ordering: .relaxed) }

    func admit(_ key: String, perAddressLimit: Int) -> Refusal? {
        let admitted = total.wrappingIncrementThenLoad(ordering: .relaxed)
        if limits.maxConnections > 0, admitted > limits.maxConnections {
            total.wrappingDecrement(ordering: .relaxed)
            refusedServerFull.increment()
            return .serverFull
        }
        guard perAddressLimit > 0 else { return nil }
        let fits = perAddress.withLockedValue { counts in
            let current = counts[key, default: 0]
            guard current < perAddressLimit else { return false }
            counts[key] = current + 1
            return true
        }
        if fits { return nil }
        total.wrappingDecrement(ordering: .relaxed)
        refusedAddressFull.increment()
        return .addressFull
    }

    func release(_ key: String, counted: Bool) {
        total.wrappingDecrement(ordering: .relaxed)
        guard counted else { return }
        perAddress.withLockedValue { counts in
            // Addresses with no connection are forgotten, so the table holds live ones only.
            if let current = counts[key], current > 1 { counts[key] = current - 1 } else { counts[key] = nil }
        }
    }

    static func isLoopback(_ address: SocketAddress?) -> Bool {
        guard let ip = address?.ipAddress else { return false }
        return ip.hasPrefix("127.") || ip == "::1" || ip.hasPrefix("::ffff:127.")
    }
}
