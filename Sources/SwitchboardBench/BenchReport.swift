import Foundation

/// The result of one run: printed as a table for people, or as one JSON object (`--json`,
/// snake_case keys) for scripts and for comparing runs.
public struct BenchReport: Codable, Sendable {
    public var scenario: String
    public var url: String
    public var clients: Int
    public var rooms: Int
    public var senders: Int?
    public var size: Int?
    public var eventLoops: Int

    // Connecting (login, upgrade, join ack).
    public var clientsConnected = 0
    public var connectFailures = 0
    public var failureKinds: [String: Int] = [:]
    public var connectSeconds = 0.0
    public var connectRate = 0.0
    /// idle: server CPU (utime + stime) used while connecting, per connected client.
    public var serverCPUMsPerConnect: Double?
    /// Busy % of the server's and the bench's pinned cores while connecting (when both are pinned).
    public var connectCoresBusyPct: [Double]?

    // After joining.
    public var settleSeconds: Double?
    /// Whether the presence events stopped (500 ms of quiet) within --settle-max.
    public var settled: Bool?
    /// `user_joined`/`user_left` events read over the whole run.
    public var presenceEvents = 0
    /// Clients the server closed after their join ack but before sending started: left out of
    /// the measurement (and of its loss), reported here.
    public var connectPhaseLost = 0
    public var connectPhaseCloseCodes: [String: Int] = [:]

    public var fanout: FanoutResult?
    public var broadcast: BroadcastResult?

    public var seqGaps = 0
    public var seqReorders = 0
    public var wrongRoom = 0
    public var staleDeliveries = 0
    public var otherEvents = 0
    public var badFrames = 0
    /// `error` events other than join answers, by code (e.g. `rate_limited`).
    public var serverErrors: [String: Int] = [:]
    /// Clients the server closed after the connect phase (while sending or holding).
    public var clientsLost = 0
    public var closeCodes: [String: Int] = [:]

    /// Busy % of each core in a 1 s sample before connecting: high means noisy numbers.
    public var backgroundCoreBusyPct: [Double] = []
    public var serverRssKibBefore: Int64?
    public var serverRssKibAfter: Int64?
    public var serverPeakRssKib: Int64?
    /// idle: (RSS after the hold − RSS before connecting) / connected clients.
    public var rssPerConnKib: Double?
    public var benchCPUSeconds = 0.0
    public var wallSeconds = 0.0
    public var error: String?

    public struct FanoutResult: Codable, Sendable {
        /// Asked messages/s over all senders.
        public var rate: Double
        /// Live clients when sending started (each room's members are the expected receivers).
        public var members: Int
        public var sendSeconds: Double
        public var messagesSent: Int
        public var sendRate: Double
        public var expectedDeliveries: Int
        public var receivedDeliveries: Int
        public var lossPct: Double
        /// Deliveries / seconds from the first send to the last delivery (or the end of sending).
        public var deliveriesPerS: Double
        public var latencyMs: LatencySummary
        public var serverCPUPct: Double?
        public var serverCPUUsPerDelivery: Double?
        public var benchCPUPct: Double
        /// Busy % of the server's and the bench's pinned cores while sending.
        public var coresBusyPct: [Double]?
    }

    public struct BroadcastResult: Codable, Sendable {
        public var members: Int
        public var messagesSent: Int
        /// Messages every member received.
        public var messagesComplete: Int
        public var expectedDeliveries: Int
        public var receivedDeliveries: Int
        public var lossPct: Double
        /// Per delivery: receive time − send time.
        public var latencyMs: LatencySummary
        /// Per message: the last member's receive time − send time (complete messages only).
        public var timeToAllMs: LatencySummary
        /// Each message's time to all in ms, in send order (nil: some member never got it).
        public var timeToAllPerMessageMs: [Double?]
        public var serverCPUPct: Double?
        public var benchCPUPct: Double
    }

    public func json() -> String {
        let encoder = JSONEncoder()
        encoder.keyEncodingStrategy = .convertToSnakeCase
        encoder.outputFormatting = [.sortedKeys]
        guard let data = try? encoder.encode(self) else { return "{}" }
        return String(decoding: data, as: UTF8.self)
    }

    /// The human-readable summary.
    public func table() -> String {
        var lines: [String] = []
        func row(_ label: String, _ value: String) {
            lines.append(label.padding(toLength: 20, withPad: " ", startingAt: 0) + value)
        }
        func codes(_ map: [String: Int]) -> String {
            map.isEmpty ? "none" : map.sorted { $0.key < $1.key }.map { "\($0.key): \($0.value)" }.joined(separator: ", ")
        }
        func f(_ value: Double, _ digits: Int = 2) -> String { String(format: "%.\(digits)f", value) }

        lines.append("== switchboard bench \(scenario) against \(url)")
        row("clients connected", "\(clientsConnected)/\(clients) in \(rooms) room\(rooms == 1 ? "" : "s"), in \(f(connectSeconds)) s (\(f(connectRate, 0))/s)")
        row("connect failures", connectFailures == 0 ? "0" : "\(connectFailures) (\(codes(failureKinds)))")
        if let serverCPUMsPerConnect {
            row("server cpu/connect", "\(f(serverCPUMsPerConnect, 3)) ms per connection (login + upgrade + join)")
        }
        if let cores = connectCoresBusyPct, cores.count == 2 {
            row("cores busy", "server's \(f(cores[0], 0))%, bench's \(f(cores[1], 0))% while connecting (irq/softirq included)")
        }
        if let settleSeconds, let settled {
            row("settle", settled
                ? "\(f(settleSeconds)) s until no client read anything for 500 ms"
                : "NOT QUIET: clients still got events after \(f(settleSeconds)) s (--settle-max); measured anyway")
        }
        row("presence events", "\(presenceEvents) user_joined/user_left read")
        row("lost while joining", connectPhaseLost == 0 ? "0" : "\(connectPhaseLost) (close codes \(codes(connectPhaseCloseCodes))); left out of the measurement")
        if let fanout {
            row("messages sent", "\(fanout.messagesSent) at \(f(fanout.sendRate, 0))/s (asked \(f(fanout.rate, 0))/s) over \(f(fanout.sendSeconds)) s by \(senders ?? 0) senders, \(size ?? 0) chars")
            row("deliveries", "\(fanout.receivedDeliveries) of \(fanout.expectedDeliveries) expected to \(fanout.members) live clients, loss \(f(fanout.lossPct, 3))%")
            row("deliveries/s", f(fanout.deliveriesPerS, 0))
            row("latency ms", fanout.latencyMs.line)
            if let cpu = fanout.serverCPUPct {
                row("cpu", "server \(f(cpu, 0))% of a core (\(f(fanout.serverCPUUsPerDelivery ?? 0)) us per delivery), bench \(f(fanout.benchCPUPct, 0))%")
            } else {
                row("cpu", "bench \(f(fanout.benchCPUPct, 0))% of a core (server: give --pid)")
            }
            if let cores = fanout.coresBusyPct, cores.count == 2 {
                row("cores busy", "server's \(f(cores[0], 0))%, bench's \(f(cores[1], 0))% while sending" + (cores[1] >= 90 ? "  (bench-bound?)" : ""))
            }
        }
        if let broadcast {
            row("messages sent", "\(broadcast.messagesSent), one at a time, \(size ?? 0) chars, to \(broadcast.members) members")
            row("reached everyone", "\(broadcast.messagesComplete) of \(broadcast.messagesSent) messages")
            row("deliveries", "\(broadcast.receivedDeliveries) of \(broadcast.expectedDeliveries) expected, loss \(f(broadcast.lossPct, 3))%")
            row("latency ms", broadcast.latencyMs.line + "  per delivery")
            row("time to all ms", broadcast.timeToAllMs.line + "  per message")
            if let cpu = broadcast.serverCPUPct {
                row("cpu", "server \(f(cpu, 0))% of a core, bench \(f(broadcast.benchCPUPct, 0))% while sending")
            }
        }
        row("seq checks", "gaps \(seqGaps), reorders \(seqReorders), wrong room \(wrongRoom), stale \(staleDeliveries), bad frames \(badFrames)")
        if !serverErrors.isEmpty { row("server errors", codes(serverErrors)) }
        row("connections lost", "\(clientsLost) after joining (close codes \(codes(closeCodes)))")
        if !backgroundCoreBusyPct.isEmpty {
            let noisy = (backgroundCoreBusyPct.max() ?? 0) > 15 ? "  NOISY: something else is using the machine" : ""
            row("machine before run", "cores busy " + backgroundCoreBusyPct.map { f($0, 0) + "%" }.joined(separator: " ") + noisy)
        }
        if let before = serverRssKibBefore, let after = serverRssKibAfter {
            row("server rss", "\(f(Double(before) / 1024, 1)) MiB before, \(f(Double(after) / 1024, 1)) MiB after, peak \(f(Double(serverPeakRssKib ?? 0) / 1024, 1)) MiB")
        }
        if let rssPerConnKib { row("rss per connection", "\(f(rssPerConnKib)) KiB") }
        row("bench", "\(f(benchCPUSeconds)) s cpu over \(f(wallSeconds)) s wall, \(eventLoops) event loop\(eventLoops == 1 ? "" : "s")")
        if let error { row("error", error) }
        return lines.joined(separator: "\n")
    }
}
