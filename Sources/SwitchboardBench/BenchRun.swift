import Foundation
import Histogram
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix

/// Runs one scenario from start to finish: connect and join every client, let the join
/// storm settle, measure, close everything, and report.
///
/// The run owns an event-loop group sized to the CPUs this process may use. Clients read on
/// those loops all the time; this task only orchestrates, reaching the loops through
/// `submit`, so measurement never waits on it.
public final class BenchRun: Sendable {
    let configuration: BenchConfiguration
    private let log: @Sendable (String) -> Void

    /// How long no client may read anything for the join storm to count as over.
    static let settleQuiet: Int64 = 500_000_000
    /// After sending stops, how long deliveries still on the way are waited for.
    static let stragglerWait: Double = 5

    public init(configuration: BenchConfiguration, log: @escaping @Sendable (String) -> Void) {
        self.configuration = configuration
        self.log = log
    }

    public func run() async throws -> BenchReport {
        try configuration.validate()
        let config = configuration
        let openFiles = ProcessResources.raiseOpenFileLimit()
        let needed = config.clients + config.concurrency + 64
        if openFiles < needed {
            log("warning: the open-file limit is \(openFiles) and cannot be raised further here; \(config.clients) clients need about \(needed), so expect 'too many open files'")
        }
        let threads = config.threads ?? ProcessResources.availableCPUs
        let group = MultiThreadedEventLoopGroup(numberOfThreads: threads)
        do {
            let report = try await run(group: group, threads: threads)
            try? await group.shutdownGracefully()
            return report
        } catch {
            try? await group.shutdownGracefully()
            throw error
        }
    }

    private func run(group: MultiThreadedEventLoopGroup, threads: Int) async throws -> BenchReport {
        let config = configuration
        let connector = try BenchConnector(configuration: config, group: group)
        let deadline = Deadline(seconds: config.maxSeconds)
        let interrupts = InterruptHandler(deadline: deadline, log: log)
        defer { interrupts.cancel() }
        // The run is bounded even if the server stops answering in a way no timeout covers.
        DispatchQueue.global().asyncAfter(deadline: .now() + config.maxSeconds + 30) {
            FileHandle.standardError.write(Data("switchboard bench: hard deadline (--max-seconds + 30 s) passed, exiting\n".utf8))
            exit(3)
        }

        var report = BenchReport(
            scenario: config.scenario.rawValue, url: config.target.description, clients: config.clients, rooms: config.rooms,
            senders: config.scenario == .fanout ? config.senders : (config.scenario == .broadcast ? 1 : nil),
            size: config.scenario == .idle ? nil : config.size, eventLoops: threads
        )
        let probe = config.serverPID.map { ServerProcessProbe(pid: $0) }
        let benchCPU0 = ProcessResources.selfCPUSeconds()
        let wall0 = WallClock.nowNanos()

        // A 1 s look at the machine before starting: a busy core means noisy numbers.
        let idle0 = CPUCoreSample.take()
        try await Task.sleep(for: .seconds(1))
        report.backgroundCoreBusyPct = CPUCoreSample.take().busyPercentAll(since: idle0)
        report.serverRssKibBefore = probe?.memory()?.rssKiB

        log("switchboard bench \(config.scenario.rawValue): \(config.clients) clients in \(config.rooms) room(s) -> \(config.target), \(threads) event loop(s)")
        let serverCPU0 = probe?.cpuMilliseconds()
        let cores0 = CPUCoreSample.take()
        let connectStart = WallClock.nowNanos()
        let (clients, failures) = await connectAll(connector: connector, deadline: deadline)
        report.connectSeconds = Self.seconds(WallClock.nowNanos() - connectStart)
        report.clientsConnected = clients.count
        report.connectRate = (Double(clients.count) / max(report.connectSeconds, 0.001)).rounded()
        report.failureKinds = failures
        report.connectFailures = failures.values.reduce(0, +)
        if config.scenario == .idle, let probe, let before = serverCPU0, let after = probe.cpuMilliseconds(), !clients.isEmpty {
            report.serverCPUMsPerConnect = ((after - before) / Double(clients.count) * 1000).rounded() / 1000
            report.connectCoresBusyPct = pinnedCoresBusy(since: cores0)
        }
        if clients.isEmpty { report.error = "no client connected" }

        if config.scenario != .idle, !clients.isEmpty, config.settleMax > 0 {
            let (seconds, quiet) = await settle(connector: connector, deadline: deadline)
            report.settleSeconds = seconds
            report.settled = quiet
            if !quiet { log("  settle: clients were still getting events after \(seconds) s; measuring anyway") }
        }
        // Clients closed so far were lost while joining or settling: reported apart, and the
        // measurement runs with the others.
        let joinLosses = await takeLost(connector)
        report.connectPhaseLost = joinLosses.clients
        report.connectPhaseCloseCodes = joinLosses.closeCodes
        if joinLosses.clients > 0 {
            log("  \(joinLosses.clients) clients lost while joining (\(joinLosses.closeCodes)); the rest go on")
        }
        let live = clients.filter(\.isAlive)
        if !clients.isEmpty, live.isEmpty { report.error = "every client was lost while joining" }

        if !live.isEmpty {
            switch config.scenario {
            case .fanout:
                do {
                    report.fanout = try await runFanout(live: live, connector: connector, probe: probe, deadline: deadline)
                } catch {
                    report.error = "\(error)"
                }
            case .broadcast:
                do {
                    report.broadcast = try await runBroadcast(live: live, connector: connector, probe: probe, deadline: deadline)
                } catch {
                    report.error = "\(error)"
                }
            case .idle:
                let hold = min(config.hold, max(0, deadline.remaining - 1))
                log("  holding \(clients.count) connections for \(hold) s")
                try? await Task.sleep(for: .milliseconds(Int(hold * 1000)))
            }
        }

        if let probe, let memory = probe.memory() {
            report.serverRssKibAfter = memory.rssKiB
            report.serverPeakRssKib = memory.peakKiB
            if config.scenario == .idle, let before = report.serverRssKibBefore, !clients.isEmpty {
                report.rssPerConnKib = (Double(memory.rssKiB - before) / Double(clients.count) * 100).rounded() / 100
            }
        }

        // Totals, then closing: from here on a close is ours, not the server's.
        let sendLosses = await takeLost(connector)
        report.clientsLost = sendLosses.clients
        report.closeCodes = sendLosses.closeCodes
        let snapshots = await forEachLoop(connector) { recorder in
            recorder.ending = true
            return recorder.snapshot()
        }
        for snapshot in snapshots {
            report.seqGaps += snapshot.seqGaps
            report.seqReorders += snapshot.seqReorders
            report.wrongRoom += snapshot.wrongRoom
            report.staleDeliveries += snapshot.staleDeliveries
            report.presenceEvents += snapshot.presenceEvents
            report.otherEvents += snapshot.otherEvents
            report.badFrames += snapshot.badFrames
            report.serverErrors.merge(snapshot.serverErrors, uniquingKeysWith: +)
        }
        await closeAll(clients)
        report.benchCPUSeconds = ((ProcessResources.selfCPUSeconds() - benchCPU0) * 100).rounded() / 100
        report.wallSeconds = Self.seconds(WallClock.nowNanos() - wall0)
        if deadline.passed, report.error == nil {
            report.error = deadline.wasInterrupted ? "stopped early: interrupted" : "stopped early: --max-seconds reached"
        }
        return report
    }

    // MARK: connecting

    /// Logs in, connects and joins every client, `--conc` at a time. Client `n` logs in as
    /// `b<n>` and joins room `r<n % rooms>`.
    private func connectAll(connector: BenchConnector, deadline: Deadline) async -> ([BenchClient], [String: Int]) {
        let config = configuration
        let next = NIOLockedValueBox(0)
        let done = NIOLockedValueBox(0)
        let log = self.log
        let reporter = Task {
            while !Task.isCancelled {
                try await Task.sleep(for: .seconds(2))
                let presence = await forEachLoop(connector) { $0.presenceEvents }.reduce(0, +)
                log("  connecting: \(done.withLockedValue { $0 })/\(config.clients), \(presence) presence events read so far")
            }
        }
        defer { reporter.cancel() }
        return await withTaskGroup(of: ([BenchClient], [String: Int]).self) { group in
            for _ in 0..<min(config.concurrency, config.clients) {
                group.addTask {
                    let login = LoginSession(connector: connector)
                    defer { login.close() }
                    var mine: [BenchClient] = []
                    var failures: [String: Int] = [:]
                    while !deadline.passed {
                        let index = next.withLockedValue { value in
                            defer { value += 1 }
                            return value
                        }
                        guard index < config.clients else { break }
                        do {
                            mine.append(try await Self.connectOne(index: index, connector: connector, login: login, rooms: config.rooms))
                        } catch let failure as StageFailure {
                            failures[failure.description, default: 0] += 1
                        } catch {
                            failures["\(error)", default: 0] += 1
                        }
                        done.withLockedValue { $0 += 1 }
                    }
                    return (mine, failures)
                }
            }
            var clients: [BenchClient] = []
            var failures: [String: Int] = [:]
            for await (mine, theirFailures) in group {
                clients += mine
                failures.merge(theirFailures, uniquingKeysWith: +)
            }
            return (clients.sorted { $0.index < $1.index }, failures)
        }
    }

    /// A failed connect, named by the stage that failed: "login: HTTP 429", "join: closed 4008".
    struct StageFailure: Error, CustomStringConvertible {
        let description: String
        init(_ stage: String, _ error: any Error) {
            description = "\(stage): \(BenchRun.shortDescription(error))"
        }
    }

    private static func connectOne(index: Int, connector: BenchConnector, login: LoginSession, rooms: Int) async throws -> BenchClient {
        let ticket: String
        do {
            ticket = try await login.ticket(forUser: "b\(index)")
        } catch {
            throw StageFailure("login", error)
        }
        let client: BenchClient
        do {
            client = try await connector.connectWebSocket(index: index, room: "r\(index % rooms)", ticket: ticket)
        } catch {
            throw StageFailure("ws", error)
        }
        do {
            try await client.join()
        } catch {
            client.close()
            throw StageFailure("join", error)
        }
        return client
    }

    /// Error text short enough to count by kind (NIO's descriptions carry addresses and ids).
    static func shortDescription(_ error: any Error) -> String {
        if let error = error as? BenchClientError { return error.description }
        if let error = error as? IOError { return "errno \(error.errnoCode)" + (error.errnoCode == EMFILE ? " (too many open files)" : "") }
        if let error = error as? ChannelError {
            if case .connectTimeout = error { return "connect timeout" }
            return "\(error)"
        }
        let text = "\(error)"
        if text.contains("connectTimeout") { return "connect timeout" }
        if let range = text.range(of: "errno: ") {
            return "errno " + text[range.upperBound...].prefix { $0.isNumber }
        }
        return String(text.prefix(80))
    }

    // MARK: settling

    /// Waits until no client has read anything for 500 ms, at most `--settle-max`: every join
    /// sends `user_joined` to the members already in the room, so a big room keeps its
    /// clients busy for a while after the last join ack, and measuring then would measure
    /// the join storm's queues.
    private func settle(connector: BenchConnector, deadline: Deadline) async -> (Double, Bool) {
        let start = WallClock.nowNanos()
        let limit = start + Int64(min(configuration.settleMax, max(0, deadline.remaining - 1)) * 1e9)
        log("  settling: waiting for 500 ms without events (at most \(configuration.settleMax) s)")
        while true {
            let last = await forEachLoop(connector) { $0.lastEventNanos }.max() ?? 0
            let now = WallClock.nowNanos()
            if now - last >= Self.settleQuiet { return (Self.seconds(now - start), true) }
            if now >= limit || deadline.passed { return (Self.seconds(now - start), false) }
            let wait = min(50_000_000, last + Self.settleQuiet - now, limit - now)
            try? await Task.sleep(for: .nanoseconds(max(wait, 1_000_000)))
        }
    }

    // MARK: fanout

    private func runFanout(live: [BenchClient], connector: BenchConnector, probe: ServerProcessProbe?, deadline: Deadline) async throws -> BenchReport.FanoutResult {
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

    // MARK: broadcast

    private func runBroadcast(live: [BenchClient], connector: BenchConnector, probe: ServerProcessProbe?, deadline: Deadline) async throws -> BenchReport.BroadcastResult {
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

    // MARK: helpers

    /// Runs `body` on every loop's recorder, on that loop, and collects the results.
    private func forEachLoop<T: Sendable>(_ connector: BenchConnector, _ body: @escaping @Sendable (LoopRecorder) -> T) async -> [T] {
        var results: [T] = []
        for recorder in connector.recorders {
            if let value = try? await recorder.eventLoop.submit({ body(recorder) }).get() { results.append(value) }
        }
        return results
    }

    private func takeLost(_ connector: BenchConnector) async -> LoopRecorder.Lost {
        var total = LoopRecorder.Lost(clients: 0, closeCodes: [:])
        for lost in await forEachLoop(connector, { $0.takeLost() }) {
            total.clients += lost.clients
            total.closeCodes.merge(lost.closeCodes, uniquingKeysWith: +)
        }
        return total
    }

    /// Busy % of the server's and this process's cores since `earlier`, when each is pinned to
    /// its own single core (`taskset -c`), else nil.
    private func pinnedCoresBusy(since earlier: CPUCoreSample) -> [Double]? {
        guard let pid = configuration.serverPID,
            let serverCore = ServerProcessProbe.pinnedCPU(pid: String(pid)),
            let benchCore = ServerProcessProbe.pinnedCPU(pid: "self"), serverCore != benchCore
        else { return nil }
        let now = CPUCoreSample.take()
        guard let server = now.busyPercent(core: serverCore, since: earlier), let bench = now.busyPercent(core: benchCore, since: earlier) else { return nil }
        return [server, bench]
    }

    private func closeAll(_ clients: [BenchClient]) async {
        for client in clients { client.close() }
        let limit = WallClock.nowNanos() + 10_000_000_000
        for client in clients where WallClock.nowNanos() < limit {
            try? await client.channel.closeFuture.get()
        }
    }

    static func seconds(_ nanos: Int64) -> Double { (Double(nanos) / 1e6).rounded() / 1000 }
    static func round3(_ value: Double) -> Double { (value * 1000).rounded() / 1000 }
}

/// The run's overall time limit (`--max-seconds`), which Ctrl-C or SIGTERM also ends: every
/// phase checks it, so an interrupted run still closes its clients and reports what it saw.
final class Deadline: Sendable {
    let endNanos: Int64
    private let interrupted = NIOLockedValueBox(false)

    init(seconds: Double) {
        endNanos = WallClock.nowNanos() + Int64(seconds * 1e9)
    }

    var remaining: Double {
        interrupted.withLockedValue { $0 } ? 0 : Double(endNanos - WallClock.nowNanos()) / 1e9
    }

    var passed: Bool { remaining <= 0 }
    var wasInterrupted: Bool { interrupted.withLockedValue { $0 } }

    func interrupt() {
        interrupted.withLockedValue { $0 = true }
    }
}

/// Turns SIGINT and SIGTERM into `Deadline.interrupt()` for the length of a run; a second
/// signal, or 30 s without the run finishing, exits at once.
final class InterruptHandler {
    private let sources: [any DispatchSourceSignal]

    init(deadline: Deadline, log: @escaping @Sendable (String) -> Void) {
        let signalled = NIOLockedValueBox(false)
        sources = [SIGINT, SIGTERM].map { number in
            signal(number, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: number, queue: .global())
            source.setEventHandler {
                if signalled.withLockedValue({ value in defer { value = true }; return value }) { exit(130) }
                log("switchboard bench: interrupted; closing the clients and reporting (again to quit at once)")
                deadline.interrupt()
                DispatchQueue.global().asyncAfter(deadline: .now() + 30) { exit(130) }
            }
            source.resume()
            return source
        }
    }

    func cancel() {
        for source in sources { source.cancel() }
        signal(SIGINT, SIG_DFL)
        signal(SIGTERM, SIG_DFL)
    }
}
