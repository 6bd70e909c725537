/// One `switchboard bench` run. The defaults are each scenario's documented example; the
/// command line fills in what the user gave and leaves the rest to `BenchConfiguration(scenario:)`.
public struct BenchConfiguration: Sendable {
    public enum Scenario: String, Sendable, CaseIterable {
        /// A few senders at a fixed total rate into rooms; everyone reads.
        case fanout
        /// One big room; one message at a time; how long until the last member has it.
        case broadcast
        /// Connect, join, hold: memory and CPU per connection.
        case idle
    }

    public var scenario: Scenario
    public var target: BenchTarget
    /// More nodes of the same cluster: client `i` opens its socket on node `i % n` (the
    /// first node is `target`); logins all go to `target`, so tickets cross nodes as they
    /// do behind a load balancer.
    public var otherTargets: [BenchTarget] = []
    var nodes: [BenchTarget] { [target] + otherTargets }
    /// Skip TLS certificate verification (self-signed test deployments).
    public var insecure = false
    public var clients: Int
    public var rooms: Int
    /// fanout: how many of the first clients send.
    public var senders = 10
    /// fanout: messages per second, summed over all senders.
    public var rate = 100.0
    /// Message text length in characters.
    public var size = 100
    /// fanout: how long the senders send.
    public var duration: Double = 10
    /// broadcast: messages to send, one at a time.
    public var messages = 20
    /// broadcast: time between message sends (a slow message delays the next).
    public var interval: Double = 1
    /// idle: how long to hold the connections before reading the server's memory.
    public var hold: Double = 5
    /// fanout/broadcast: longest wait for the presence events of the join phase to stop (0: none).
    public var settleMax: Double = 15
    /// Clients logging in, connecting and joining at once.
    public var concurrency = 200
    /// Spread sockets over 127.0.0.1...127.0.0.N when the target is IPv4 loopback.
    public var localIPs = 8
    /// Server process id on this machine, for memory and CPU from `/proc`.
    public var serverPID: Int32?
    /// Whole-run deadline in seconds; the run stops by itself at this point.
    public var maxSeconds: Double = 120
    /// Event-loop threads; nil: the CPUs this process may run on.
    public var threads: Int?

    public init(scenario: Scenario, target: BenchTarget) {
        self.scenario = scenario
        self.target = target
        switch scenario {
        case .fanout:
            clients = 1000
            rooms = 1
        case .broadcast:
            clients = 19_000
            rooms = 1
        case .idle:
            clients = 10_000
            rooms = 1000
        }
    }

    /// Checks the numbers once, so a run never starts with settings it cannot honour.
    public func validate() throws {
        func require(_ condition: Bool, _ message: String) throws {
            if !condition { throw BenchConfigurationError(message) }
        }
        try require(clients >= 1, "--clients must be at least 1")
        try require(rooms >= 1 && rooms <= clients, "--rooms must be between 1 and --clients")
        try require(senders >= 1, "--senders must be at least 1")
        try require(rate > 0, "--rate must be positive")
        try require(size >= 1 && size <= 4096, "--size must be 1...4096 (the protocol's message limit)")
        try require(duration > 0, "--duration must be positive")
        try require(messages >= 1, "--messages must be at least 1")
        try require(interval >= 0, "--interval must not be negative")
        try require(hold >= 0, "--hold must not be negative")
        try require(settleMax >= 0, "--settle-max must not be negative")
        try require(concurrency >= 1, "--conc must be at least 1")
        try require(localIPs >= 1 && localIPs <= 254, "--local-ips must be 1...254")
        try require(maxSeconds > 0, "--max-seconds must be positive")
        try require(threads.map { $0 >= 1 } ?? true, "--threads must be at least 1")
    }
}

/// Parses "10s", "500ms", "2m", "1.5" (seconds) into seconds.
public func parseBenchDuration(_ text: String) -> Double? {
    let units: [(String, Double)] = [("ms", 0.001), ("us", 0.000_001), ("s", 1), ("m", 60), ("h", 3600)]
    for (suffix, scale) in units where text.hasSuffix(suffix) {
        return Double(text.dropLast(suffix.count)).map { $0 * scale }
    }
    return Double(text)
}
