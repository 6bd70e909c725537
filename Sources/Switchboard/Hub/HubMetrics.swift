import Atomics
import Metrics

/// The hub's swift-metrics instruments. Counted per broadcast, never per delivery, so the
/// fan-out path pays one atomic add per message, not per member.
struct HubMetrics: Sendable {
    let connections = Gauge(label: "switchboard_connections")
    let opens = Counter(label: "switchboard_connections_opened_total")
    let deliveries = Counter(label: "switchboard_messages_out_total")
    let slowConsumers = Counter(label: "switchboard_slow_consumer_drops_total")
    /// Rooms the hub holds (members or a join in flight), so that rooms left behind show.
    /// Recorded under the hub's lock, so that creations and evictions on different threads
    /// cannot record out of order; a gauge is a store, it never calls back into the hub.
    let rooms = Gauge(label: "switchboard_rooms")
    private let live = ManagedAtomic<Int>(0)
    /// One series per close code the server itself knows, made up front. A peer chooses its
    /// close code (any of 3000–4999 is valid on the wire), so a label taken from it would let
    /// one client create series without bound; every other code counts as `other`.
    private let closes: [UInt16: Counter]
    private let otherCloses = Counter(label: Self.closedLabel, dimensions: [("code", "other")])

    static let closedLabel = "switchboard_connections_closed_total"
    static let labelledCloseCodes: [CloseCode] = [
        .normal, .goingAway, .protocolError, .unsupportedData, .noStatus, .abnormal, .invalidPayload,
        .policyViolation, .messageTooBig, .internalError, .slowConsumer, .flood,
    ]

    init() {
        var closes: [UInt16: Counter] = [:]
        for code in Self.labelledCloseCodes {
            closes[code.rawValue] = Counter(label: Self.closedLabel, dimensions: [("code", "\(code.rawValue)")])
        }
        self.closes = closes
    }

    func opened() {
        opens.increment()
        connections.record(live.wrappingIncrementThenLoad(by: 1, ordering: .relaxed))
    }

    func closed(code: CloseCode) {
        connections.record(live.wrappingDecrementThenLoad(by: 1, ordering: .relaxed))
        (closes[code.rawValue] ?? otherCloses).increment()
        if code == .slowConsumer { slowConsumers.increment() }
    }

    func delivered(_ count: Int) {
        if count > 0 { deliveries.increment(by: count) }
    }
}
