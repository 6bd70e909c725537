import Histogram
import NIOCore

/// fanout: the first `--senders` clients send at a fixed total rate while everyone reads.
extension BenchRun {
    func runFanout(live: [BenchClient], connector: BenchConnector, probe: ServerProcessProbe?, deadline: Deadline) async throws -> BenchReport.FanoutResult {
        let config = configuration
        var members: [String: Int] = [:]
        for client in live { members[client.room, default: 0] += 1 }
        let senders = Self.pickSenders(live: live, count: config.senders, rooms: config.rooms)
        let duration = min(config.duration, deadline.remaining - Self.stragglerWait - 1)
        guard duration > 0 else { throw BenchConfigurationError("no time left to send: raise --max-seconds") }
        log("  sending \(config.rate) msg/s from \(senders.count) senders for \(duration) s to \(live.count) clients")

        let start = WallClock.nowNanos()
        _ = await forEachLoop(connector) { $0.startStep(at: start) }
        let serverCPU0 = probe?.cpuMilliseconds()
        let benchCPU0 = ProcessResources.selfCPUSeconds()
        let cores0 = CPUCoreSample.take()
        // Each sender sends at rate/senders, offset so that the senders take turns.
        let intervalNanos = Int64(Double(senders.count) / config.rate * 1e9)
        let end = start + Int64(duration * 1e9)
        let futures = senders.enumerated().map { position, sender in
            SenderSchedule.start(
                handler: sender.handler, size: config.size, start: start + intervalNanos * Int64(position) / Int64(senders.count),
                interval: intervalNanos, end: end, deadline: deadline
            )
        }
        var sent: [Int] = []
        for future in futures { sent.append((try? await future.get()) ?? 0) }
        let sendNanos = WallClock.nowNanos() - start
        let messages = sent.reduce(0, +)
        let expected = zip(senders, sent).reduce(0) { $0 + $1.1 * (members[$1.0.room] ?? 0) }

        // Deliveries still on the way.
        let waitUntil = WallClock.nowNanos() + Int64(Self.stragglerWait * 1e9)
        while WallClock.nowNanos() < waitUntil {
            let received = await forEachLoop(connector) { $0.deliveries }.reduce(0, +)
            if received >= expected { break }
            try? await Task.sleep(for: .milliseconds(10))
        }
        let wall = Self.seconds(WallClock.nowNanos() - start)
        let snapshots = await forEachLoop(connector) { $0.snapshot() }
        var latency = LoopRecorder.makeHistogram()
        for snapshot in snapshots { latency.add(snapshot.latency) }
        let received = snapshots.reduce(0) { $0 + $1.deliveries }
        let lastDelivery = snapshots.map(\.lastDeliveryNanos).max() ?? 0
        // An overloaded server keeps delivering after the senders stop: count those seconds too.
        let window = max(Self.seconds(sendNanos), Self.seconds(lastDelivery - start))
        var result = BenchReport.FanoutResult(
            rate: config.rate, members: live.count, sendSeconds: Self.seconds(sendNanos), messagesSent: messages,
            sendRate: (Double(messages) / max(Self.seconds(sendNanos), 0.001)).rounded(),
            expectedDeliveries: expected, receivedDeliveries: received,
            lossPct: expected > 0 ? Self.round3(max(0, Double(expected - received) / Double(expected) * 100)) : 0,
            deliveriesPerS: (Double(received) / max(window, 0.001)).rounded(), latencyMs: LatencySummary(microseconds: latency),
            benchCPUPct: ((ProcessResources.selfCPUSeconds() - benchCPU0) / wall * 100).rounded()
        )
        if let probe, let before = serverCPU0, let after = probe.cpuMilliseconds() {
            result.serverCPUPct = ((after - before) / 1000 / wall * 100).rounded()
            if received > 0 { result.serverCPUUsPerDelivery = Self.round3((after - before) * 1000 / Double(received)) }
        }
        result.coresBusyPct = pinnedCoresBusy(since: cores0)
        return result
    }

    /// The first live client of each room in turn (so senders spread over the rooms).
    static func pickSenders(live: [BenchClient], count: Int, rooms: Int) -> [BenchClient] {
        var byRoom: [String: [BenchClient]] = [:]
        for client in live { byRoom[client.room, default: []].append(client) }
        var picked: [BenchClient] = []
        var used = Set<Int>()
        var roomIndex = 0
        var misses = 0
        while picked.count < min(count, live.count), misses < rooms {
            let room = "r\(roomIndex % rooms)"
            roomIndex += 1
            if let candidate = byRoom[room]?.first(where: { !used.contains($0.index) }) {
                picked.append(candidate)
                used.insert(candidate.index)
                misses = 0
            } else {
                misses += 1
            }
        }
        return picked
    }
}
