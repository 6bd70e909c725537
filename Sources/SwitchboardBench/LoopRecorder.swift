import Histogram
import NIOCore

/// Everything the clients of one event loop observe, kept on that loop.
///
/// Every client channel is pinned to one loop and records into that loop's recorder with
/// plain (unsynchronised) writes, so the hot path has no locks or atomics. The orchestrating
/// task reads and resets recorders only through `eventLoop.submit`, which runs on the loop.
/// That confinement is what makes the `@unchecked Sendable` below sound.
final class LoopRecorder: @unchecked Sendable {
    let eventLoop: any EventLoop

    /// Send time (unix nanos) from which deliveries count for the current step; messages sent
    /// earlier are "stale". `Int64.max` while no step runs.
    var stepStartNanos = Int64.max
    /// Set when the run is over: closes from then on are ours, not the server's.
    var ending = false
    /// Broadcast: completes each message's "reached every member" wait.
    var broadcastTracker: BroadcastTracker?

    private(set) var latency = LoopRecorder.makeHistogram()
    private(set) var deliveries = 0
    private(set) var lastDeliveryNanos: Int64 = 0
    /// When any client on this loop last read something (the settle phase waits for quiet).
    var lastEventNanos: Int64 = 0

    var seqGaps = 0
    var seqReorders = 0
    var wrongRoom = 0
    var staleDeliveries = 0
    var presenceEvents = 0
    var otherEvents = 0
    var badFrames = 0
    /// `error` events the server sent that were not join answers, by code (`rate_limited`...).
    var serverErrors: [String: Int] = [:]

    /// Clients closed after their join ack, since the last `takeLost`.
    private(set) var lostClients = 0
    private(set) var lostCloseCodes: [String: Int] = [:]

    init(eventLoop: any EventLoop) {
        self.eventLoop = eventLoop
    }

    /// Microseconds, 1 µs to 1 hour, three significant digits (0.1% resolution).
    static func makeHistogram() -> Histogram<UInt64> {
        Histogram<UInt64>(lowestDiscernibleValue: 1, highestTrackableValue: 3_600_000_000, numberOfSignificantValueDigits: .three)
    }

    @inline(__always)
    func recordDelivery(latencyNanos: Int64, at now: Int64) {
        let micros = UInt64(clamping: max(latencyNanos, 0) / 1000)
        latency.record(min(max(micros, 1), 3_600_000_000))
        deliveries += 1
        if now > lastDeliveryNanos { lastDeliveryNanos = now }
    }

    func recordLost(closeCode: String) {
        lostClients += 1
        lostCloseCodes[closeCode, default: 0] += 1
    }

    // Called on the loop, through `submit`:

    func startStep(at nanos: Int64) {
        stepStartNanos = nanos
        latency.reset()
        deliveries = 0
        lastDeliveryNanos = 0
    }

    struct Lost: Sendable {
        var clients: Int
        var closeCodes: [String: Int]
    }

    /// The clients lost since the last call, and starts counting afresh.
    func takeLost() -> Lost {
        defer {
            lostClients = 0
            lostCloseCodes = [:]
        }
        return Lost(clients: lostClients, closeCodes: lostCloseCodes)
    }

    struct Snapshot: Sendable {
        var latency: Histogram<UInt64>
        var deliveries: Int
        var lastDeliveryNanos: Int64
        var lastEventNanos: Int64
        var seqGaps, seqReorders, wrongRoom, staleDeliveries, presenceEvents, otherEvents, badFrames: Int
        var serverErrors: [String: Int]
    }

    /// A cheap read for the settle and straggler waits (no histogram copy).
    struct Progress: Sendable {
        var deliveries: Int
        var lastEventNanos: Int64
    }

    func progress() -> Progress {
        Progress(deliveries: deliveries, lastEventNanos: lastEventNanos)
    }

    func snapshot() -> Snapshot {
        Snapshot(
            latency: latency, deliveries: deliveries, lastDeliveryNanos: lastDeliveryNanos, lastEventNanos: lastEventNanos,
            seqGaps: seqGaps, seqReorders: seqReorders, wrongRoom: wrongRoom, staleDeliveries: staleDeliveries,
            presenceEvents: presenceEvents, otherEvents: otherEvents, badFrames: badFrames, serverErrors: serverErrors
        )
    }
}
