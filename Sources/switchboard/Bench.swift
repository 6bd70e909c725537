import ArgumentParser
import Foundation
import SwitchboardBench

/// `switchboard bench`: a load generator to point at your own deployment. Only argument
/// parsing lives here; the client, the scenarios and the statistics are in SwitchboardBench.
struct Bench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Load-test a Switchboard deployment you run (fanout, broadcast or idle).",
        discussion: """
            Scenarios, with their defaults:
              fanout     --clients 1000 --rooms 1 --senders 10 --rate 100
                         --size 100 --duration 10s
              broadcast  --clients 19000 --messages 20 --interval 1s (one room)
              idle       --clients 10000 --hold 5s (clients/10 rooms)
            With --pid (a server on this machine) it also reports the server's
            RSS and CPU. Only benchmark servers you run or may load-test.
            """
    )

    @Argument(help: "fanout | broadcast | idle (or use --scenario).") var scenario: String?
    @Option(name: .customLong("scenario"), help: "fanout | broadcast | idle.") var scenarioOption: String?
    @Option(help: "Server base URL: http, https, ws or wss; logins go to <url>/login, sockets to <url>/ws. Repeat it for the nodes of a cluster: client i connects to the i-th URL round-robin, every login goes to the first.")
    var url: [String] = []
    @Flag(help: "Do not verify the server's TLS certificate (self-signed test setups).") var insecure = false
    @Option(help: "Connections (default: fanout 1000, broadcast 19000, idle 10000).") var clients: Int?
    @Option(help: "Rooms r0..r{n-1}, clients round-robin (default: 1; idle: clients/10).") var rooms: Int?
    @Option(help: "fanout: sending clients (the first ones, spread over the rooms).") var senders: Int?
    @Option(help: "fanout: messages per second over all senders.") var rate: Double?
    @Option(help: "Message text length in characters.") var size: Int?
    @Option(help: "fanout: how long to send, e.g. 10s.", transform: Bench.duration) var duration: Double?
    @Option(help: "broadcast: messages to send, one at a time.") var messages: Int?
    @Option(help: "broadcast: time between sends, e.g. 1s.", transform: Bench.duration) var interval: Double?
    @Option(help: "idle: how long to hold the connections, e.g. 5s.", transform: Bench.duration) var hold: Double?
    @Option(help: "fanout/broadcast: longest wait after joining for presence events to stop (0s: none).", transform: Bench.duration)
    var settleMax: Double?
    @Option(name: .customLong("conc"), help: "Clients connecting at once.") var concurrency: Int?
    @Option(help: "Spread sockets over 127.0.0.1..127.0.0.N when the target is IPv4 loopback.") var localIps: Int?
    @Option(help: "Server process id on this machine: report its RSS and CPU from /proc.") var pid: Int32?
    @Option(help: "Stop the whole run after this many seconds.") var maxSeconds: Double?
    @Option(help: "Event-loop threads (default: the CPUs this process may run on).") var threads: Int?
    @Flag(help: "Print one JSON object on stdout (the table goes to stderr).") var json = false

    static func duration(_ text: String) throws -> Double {
        guard let seconds = parseBenchDuration(text) else { throw ValidationError("not a duration: \(text) (try 10s, 500ms, 2m)") }
        return seconds
    }

    func validate() throws {
        _ = try makeConfiguration()
    }

    func run() async throws {
        let configuration = try makeConfiguration()
        let report = try await BenchRun(configuration: configuration, log: { line in
            FileHandle.standardError.write(Data((line + "\n").utf8))
        }).run()
        if json {
            FileHandle.standardError.write(Data((report.table() + "\n").utf8))
            print(report.json())
        } else {
            print(report.table())
        }
        if report.error != nil { throw ExitCode(1) }
    }

    private func makeConfiguration() throws -> BenchConfiguration {
        let name = scenario ?? scenarioOption ?? "fanout"
        if let scenario, let scenarioOption, scenario != scenarioOption {
            throw ValidationError("scenario given twice: \(scenario) and --scenario \(scenarioOption)")
        }
        guard let scenario = BenchConfiguration.Scenario(rawValue: name) else {
            throw ValidationError("unknown scenario \(name): use fanout, broadcast or idle")
        }
        let targets: [BenchTarget]
        do { targets = try (url.isEmpty ? ["http://127.0.0.1:8080"] : url).map { try BenchTarget(url: $0) } } catch { throw ValidationError("\(error)") }
        var configuration = BenchConfiguration(scenario: scenario, target: targets[0])
        configuration.otherTargets = Array(targets.dropFirst())
        configuration.insecure = insecure
        if let clients {
            configuration.clients = clients
            if scenario == .idle, rooms == nil { configuration.rooms = max(1, clients / 10) }
        }
        if let rooms { configuration.rooms = rooms }
        if let senders { configuration.senders = senders }
        if let rate { configuration.rate = rate }
        if let size { configuration.size = size }
        if let duration { configuration.duration = duration }
        if let messages { configuration.messages = messages }
        if let interval { configuration.interval = interval }
        if let hold { configuration.hold = hold }
        if let settleMax { configuration.settleMax = settleMax }
        if let concurrency { configuration.concurrency = concurrency }
        if let localIps { configuration.localIPs = localIps }
        configuration.serverPID = pid
        if let maxSeconds { configuration.maxSeconds = maxSeconds }
        configuration.threads = threads
        do { try configuration.validate() } catch { throw ValidationError("\(error)") }
        return configuration
    }
}
