import Histogram
import NIOCore

/// broadcast: one big room, one message at a time, and the time until its last member has it.
extension BenchRun {
    func runBroadcast(live: [BenchClient], connector: BenchConnector, probe: ServerProcessProbe?, deadline: Deadline) async throws -> BenchReport.BroadcastResult {
        let config = configuration
        let tracker = BroadcastTracker()
        let start = WallClock.nowNanos()
        _ = await forEachLoop(connector) { recorder in
            recorder.broadcastTracker = tracker
            recorder.startStep(at: start)
        }
        let serverCPU0 = probe?.cpuMilliseconds()
        let benchCPU0 = ProcessResources.selfCPUSeconds()
        var sender = live[0]
        log("  broadcasting \(config.messages) messages, one at a time, to \(live.count) members")
        var sentCount = 0
        for number in 0..<config.messages {
            let due = start + Int64(Double(number) * config.interval * 1e9)
            let now = WallClock.nowNanos()
            if due > now { try? await Task.sleep(for: .nanoseconds(due - now)) }
            guard deadline.remaining > Self.stragglerWait + 1 else {
                log("  stopping after \(sentCount) messages: --max-seconds is near")
                break
            }
            if !sender.isAlive, let replacement = live.first(where: \.isAlive) { sender = replacement }
            let members = live.reduce(0) { $0 + ($1.isAlive ? 1 : 0) }
            let handler = sender.handler
            let size = config.size
            let sentNanos: Int64? = try? await sender.eventLoop.submit { () -> Int64? in
                var sent: Int64?
                handler.sendChatMessage(size: size) { nanos in
                    sent = nanos
                    tracker.begin(sentNanos: nanos, expected: members)
                }
                return sent
            }.get()
            guard let sentNanos = sentNanos ?? nil else { throw BenchConfigurationError("the sender's connection is closed and no live client is left") }
            sentCount += 1
            let complete = await tracker.waitForAll(sentNanos: sentNanos, timeout: .seconds(Int64(Self.stragglerWait)), on: sender.eventLoop)
            let results = tracker.results()
            if let last = results.last {
                let time = last.timeToAllNanos.map { "\(Double($0 / 1000) / 1000) ms" } ?? "incomplete (\(last.received)/\(last.expected))"
                log("  message \(number + 1): \(complete ? "reached all \(last.expected) members" : "NOT everyone"), time to all: \(time)")
            }
        }
        let wall = Self.seconds(WallClock.nowNanos() - start)
        let snapshots = await forEachLoop(connector) { $0.snapshot() }
        var latency = LoopRecorder.makeHistogram()
        for snapshot in snapshots { latency.add(snapshot.latency) }
        let results = tracker.results()
        let expected = results.reduce(0) { $0 + $1.expected }
        let received = results.reduce(0) { $0 + $1.received }
        var result = BenchReport.BroadcastResult(
            members: live.count, messagesSent: results.count, messagesComplete: results.filter(\.complete).count,
            expectedDeliveries: expected, receivedDeliveries: received,
            lossPct: expected > 0 ? Self.round3(max(0, Double(expected - received) / Double(expected) * 100)) : 0,
            latencyMs: LatencySummary(microseconds: latency),
            timeToAllMs: LatencySummary(nanoseconds: results.compactMap(\.timeToAllNanos)),
            timeToAllPerMessageMs: results.map { $0.timeToAllNanos.map { Double($0 / 1000) / 1000 } },
            benchCPUPct: ((ProcessResources.selfCPUSeconds() - benchCPU0) / wall * 100).rounded()
        )
        if let probe, let before = serverCPU0, let after = probe.cpuMilliseconds() {
            result.serverCPUPct = ((after - before) / 1000 / wall * 100).rounded()
        }
        return result
    }
}
