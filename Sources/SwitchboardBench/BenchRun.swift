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
    let log: @Sendable (String) -> Void

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
            scenario: config.scenario.rawValue, url: config.nodes.map(\.description).joined(separator: " "), clients: config.clients, rooms: config.rooms,
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

        log("switchboard bench \(config.scenario.rawValue): \(config.clients) clients in \(config.rooms) room(s) -> \(config.nodes.map(\.description).joined(separator: ", ")), \(threads) event loop(s)")
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
        if let error = error as? IOError { return "errno \(error.errnoCode) (\(String(cString: strerror(error.errnoCode))))" }
        if let error = error as? ChannelError {
            if case .connectTimeout = error { return "connect timeout" }
            return "\(error)"
        }
        let text = "\(error)"
        if text.contains("CERTIFICATE_VERIFY_FAILED") {
            return "TLS certificate not trusted (--insecure skips the check for self-signed test setups)"
        }
        if text.contains("connectTimeout") { return "connect timeout" }
        if let range = text.range(of: "errno: "), let code = Int32(text[range.upperBound...].prefix { $0.isNumber }) {
            return "errno \(code) (\(String(cString: strerror(code))))"
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

    // MARK: helpers

    /// Runs `body` on every loop's recorder, on that loop, and collects the results.
    func forEachLoop<T: Sendable>(_ connector: BenchConnector, _ body: @escaping @Sendable (LoopRecorder) -> T) async -> [T] {
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
    func pinnedCoresBusy(since earlier: CPUCoreSample) -> [Double]? {
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
