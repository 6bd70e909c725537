import ArgumentParser
import Foundation
import Logging
import NIOCore
import NIOPosix
import ServiceLifecycle
import Switchboard
import SwitchboardChat
import SwitchboardPostgres

/// `switchboard serve`: the chat server. Every option also reads `SWITCHBOARD_<NAME>` from
/// the environment (flags win), so the same binary configures from a unit file or container.
struct Serve: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Run the chat server (in memory, guest login by default).")

    @Option(help: "Address to listen on. Env: SWITCHBOARD_HOST.") var host: String?
    @Option(help: "Port to listen on. Env: SWITCHBOARD_PORT.") var port: Int?
    @Option(help: "guest | users-file | jwt. Env: SWITCHBOARD_AUTH.") var auth: String?
    @Option(help: "Users file (username:bcrypt-hash per line) for --auth users-file. Env: SWITCHBOARD_USERS_FILE.") var usersFile: String?
    @Option(help: "HS256 secret for --auth jwt. Env: SWITCHBOARD_JWT_SECRET.") var jwtSecret: String?
    @Option(help: "PEM file with the ES256 public key for --auth jwt. Env: SWITCHBOARD_JWT_PUBLIC_KEY.") var jwtPublicKey: String?
    @Option(help: "JWT claim naming the user. Env: SWITCHBOARD_JWT_USER_CLAIM.") var jwtUserClaim: String?
    @Option(help: "Required JWT issuer. Env: SWITCHBOARD_JWT_ISSUER.") var jwtIssuer: String?
    @Option(help: "Required JWT audience. Env: SWITCHBOARD_JWT_AUDIENCE.") var jwtAudience: String?
    @Option(help: "Comma-separated allowed Origins; default: the server's own. Env: SWITCHBOARD_ALLOWED_ORIGINS.") var allowedOrigins: String?
    @Option(help: "URL users reach the server at (a DNS name, a proxy), e.g. https://chat.example.com; its origin may open WebSockets. Env: SWITCHBOARD_PUBLIC_URL.") var publicUrl: String?
    @Option(help: "PEM certificate chain; enables TLS (wss). Env: SWITCHBOARD_TLS_CERT.") var tlsCert: String?
    @Option(help: "PEM private key for --tls-cert. Env: SWITCHBOARD_TLS_KEY.") var tlsKey: String?
    @Option(help: "Seconds between pings. Env: SWITCHBOARD_PING_INTERVAL.") var pingInterval: Double?
    @Option(help: "Seconds of silence before a peer is dropped (default 2 × ping interval). Env: SWITCHBOARD_PING_TIMEOUT.") var pingTimeout: Double?
    @Option(help: "Seconds to wait for the peer's close frame after the server's (also how long a dropped slow consumer gets to read its backlog and the 4008). Env: SWITCHBOARD_CLOSE_TIMEOUT.") var closeTimeout: Double?
    @Option(help: "Largest inbound message in bytes. Env: SWITCHBOARD_MAX_MESSAGE_BYTES.") var maxMessageBytes: Int?
    @Option(help: "Outbound queue limit in messages. Env: SWITCHBOARD_MAX_QUEUED_MESSAGES.") var maxQueuedMessages: Int?
    @Option(help: "Outbound queue limit in bytes. Env: SWITCHBOARD_MAX_QUEUED_BYTES.") var maxQueuedBytes: Int?
    @Option(help: "Sustained inbound events per second per connection before rate_limited errors (0 disables; then 4029 for a flood). Env: SWITCHBOARD_RATE_LIMIT.") var rateLimit: Double?
    @Option(help: "Inbound events a connection may send at once. Env: SWITCHBOARD_RATE_BURST.") var rateBurst: Double?
    @Option(help: "WebSocket connections in all before upgrades get 503 (0: no limit). Env: SWITCHBOARD_MAX_CONNECTIONS.") var maxConnections: Int?
    @Option(help: "WebSocket connections per remote address before upgrades get 429 (0: no limit; loopback clients are exempt). Env: SWITCHBOARD_MAX_CONNECTIONS_PER_ADDRESS.") var maxConnectionsPerAddress: Int?
    @Option(help: "Seconds an HTTP request may take to arrive, head to end of body (0: no limit). Env: SWITCHBOARD_REQUEST_TIMEOUT.") var requestTimeout: Double?
    @Option(help: "Seconds a login ticket stays valid. Env: SWITCHBOARD_TICKET_TTL.") var ticketTtl: Double?
    @Option(help: "Messages kept per room for history and recovery. Env: SWITCHBOARD_ROOM_RETENTION.") var roomRetention: Int?
    @Option(help: "MiB of history kept in memory over all rooms; least recently used rooms go first. Env: SWITCHBOARD_HISTORY_MEMORY.") var historyMemory: Int?
    @Option(help: "Rooms one connection may be in at once. Env: SWITCHBOARD_MAX_ROOMS_PER_CONNECTION.") var maxRoomsPerConnection: Int?
    @Option(help: "Seconds to drain connections on shutdown. Env: SWITCHBOARD_DRAIN_TIMEOUT.") var drainTimeout: Double?
    @Option(help: "Directory of the browser page. Env: SWITCHBOARD_PUBLIC_DIR.") var publicDir: String?
    @Option(help: "Event-loop threads; default: the CPUs this process may run on. Env: SWITCHBOARD_THREADS.") var threads: Int?
    @Flag(inversion: .prefixedNo, help: "Run Swift tasks (logins, event handlers) on the event loops instead of Swift's own thread pool, which saves a thread hand-off per request and per event. Env: SWITCHBOARD_TASKS_ON_EVENT_LOOPS.") var tasksOnEventLoops: Bool?
    @Option(help: "Milliseconds each event loop gathers outgoing frames before writing them: at most that much added latency, for one write per member per pass instead of one per message (0 writes at once; default 1, or 5 with --postgres). Env: SWITCHBOARD_WRITE_COALESCING.") var writeCoalescing: Double?
    @Option(help: "Seconds between heap trims, which give the memory a connect storm leaves behind back to the system (only after connections came or went; 0 disables). Env: SWITCHBOARD_HEAP_TRIM_INTERVAL.") var heapTrimInterval: Double?
    @Option(help: "Enable a conformance echo endpoint at this path (testing only). Env: SWITCHBOARD_ECHO_PATH.") var echoPath: String?
    @Option(help: "PostgreSQL URL (postgres://user[:password]@host[:port]/database[?sslmode=disable|prefer|require]): durable rooms, and a cluster with every node given the same database. Default: everything in memory. Env: SWITCHBOARD_POSTGRES_URL.") var postgres: String?
    @Option(help: "This node's name in the cluster; a node restarted with the same name purges its previous life's presence at once. Default: host name and process id. Env: SWITCHBOARD_NODE_NAME.") var nodeName: String?
    @Option(help: "Seconds of silence after which a cluster node is declared dead and its users leave. Env: SWITCHBOARD_NODE_TIMEOUT.") var nodeTimeout: Double?
    @Option(help: "Seconds between the backplane's safety polls: the most a lost notification delays a message. Env: SWITCHBOARD_POLL_INTERVAL.") var pollInterval: Double?
    @Option(help: "Seconds an event waits for the database before it is answered unavailable. Env: SWITCHBOARD_POSTGRES_TIMEOUT.") var postgresTimeout: Double?
    @Flag(help: "Offer permessage-deflate compression (RFC 7692) to clients that ask for it. Env: SWITCHBOARD_COMPRESSION=1.") var compression = false
    @Option(help: "trace | debug | info | notice | warning | error. Env: SWITCHBOARD_LOG_LEVEL.") var logLevel: String?

    func run() async throws {
        let environment = ProcessInfo.processInfo.environment
        func value(_ flag: String?, _ name: String) -> String? { flag ?? environment["SWITCHBOARD_\(name)"] }
        func number<T: LosslessStringConvertible>(_ flag: T?, _ name: String) throws -> T? {
            if let flag { return flag }
            guard let text = environment["SWITCHBOARD_\(name)"] else { return nil }
            guard let parsed = T(text) else { throw ValidationError("SWITCHBOARD_\(name)=\(text) is not a valid number") }
            return parsed
        }
        func flag(_ flag: Bool?, _ name: String) throws -> Bool? {
            if let flag { return flag }
            guard let text = environment["SWITCHBOARD_\(name)"]?.lowercased() else { return nil }
            if ["1", "true", "yes", "on"].contains(text) { return true }
            if ["0", "false", "no", "off"].contains(text) { return false }
            throw ValidationError("SWITCHBOARD_\(name)=\(text) is neither true nor false")
        }
        func seconds(_ value: Double) -> Duration { .milliseconds(Int64(value * 1000)) }

        var configuration = ChatConfiguration()
        if let host = value(host, "HOST") { configuration.host = host }
        if let port = try number(port, "PORT") { configuration.port = port }
        switch value(auth, "AUTH") ?? "guest" {
        case "guest":
            configuration.auth = .guest
        case "users-file":
            guard let path = value(usersFile, "USERS_FILE") else { throw ValidationError("--auth users-file needs --users-file") }
            configuration.auth = .usersFile(path: path)
        case "jwt":
            let pem = try value(jwtPublicKey, "JWT_PUBLIC_KEY").map { try String(contentsOfFile: $0, encoding: .utf8) }
            configuration.auth = .jwt(.init(
                hmacSecret: value(jwtSecret, "JWT_SECRET"), ecdsaPublicKeyPEM: pem,
                usernameClaim: value(jwtUserClaim, "JWT_USER_CLAIM") ?? "sub",
                issuer: value(jwtIssuer, "JWT_ISSUER"), audience: value(jwtAudience, "JWT_AUDIENCE")
            ))
        case let other:
            throw ValidationError("unknown auth mode \(other): use guest, users-file or jwt")
        }
        if let origins = value(allowedOrigins, "ALLOWED_ORIGINS") {
            configuration.allowedOrigins = origins.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }
        }
        configuration.publicURL = value(publicUrl, "PUBLIC_URL")
        configuration.tlsCertificatePath = value(tlsCert, "TLS_CERT")
        configuration.tlsKeyPath = value(tlsKey, "TLS_KEY")
        if (configuration.tlsCertificatePath == nil) != (configuration.tlsKeyPath == nil) {
            throw ValidationError("--tls-cert and --tls-key go together")
        }
        if let interval = try number(pingInterval, "PING_INTERVAL") {
            configuration.connection.pingInterval = .milliseconds(Int64(interval * 1000))
        }
        if let timeout = try number(pingTimeout, "PING_TIMEOUT") {
            configuration.connection.pingTimeout = .milliseconds(Int64(timeout * 1000))
        }
        if let timeout = try number(closeTimeout, "CLOSE_TIMEOUT") {
            configuration.connection.closeTimeout = .milliseconds(Int64(timeout * 1000))
        }
        if let bytes = try number(maxMessageBytes, "MAX_MESSAGE_BYTES") { configuration.connection.maxInboundMessageSize = bytes }
        if let count = try number(maxQueuedMessages, "MAX_QUEUED_MESSAGES") { configuration.connection.maxQueuedMessages = count }
        if let bytes = try number(maxQueuedBytes, "MAX_QUEUED_BYTES") { configuration.connection.maxQueuedBytes = bytes }
        if let rate = try number(rateLimit, "RATE_LIMIT") {
            configuration.connection.rateLimit = rate <= 0 ? nil : {
                var limits = configuration.connection.rateLimit ?? .init()
                limits.eventsPerSecond = rate
                return limits
            }()
        }
        if let burst = try number(rateBurst, "RATE_BURST"), configuration.connection.rateLimit != nil {
            configuration.connection.rateLimit?.burst = burst
        }
        if let count = try number(maxConnections, "MAX_CONNECTIONS") { configuration.connectionLimits.maxConnections = max(0, count) }
        if let count = try number(maxConnectionsPerAddress, "MAX_CONNECTIONS_PER_ADDRESS") {
            configuration.connectionLimits.maxConnectionsPerAddress = max(0, count)
        }
        if let timeout = try number(requestTimeout, "REQUEST_TIMEOUT") { configuration.requestTimeout = timeout > 0 ? seconds(timeout) : nil }
        if let ttl = try number(ticketTtl, "TICKET_TTL") { configuration.ticketLifetime = seconds(ttl) }
        if let retention = try number(roomRetention, "ROOM_RETENTION") { configuration.roomRetention = retention }
        if let mebibytes = try number(historyMemory, "HISTORY_MEMORY") {
            guard (1...(1 << 30)).contains(mebibytes) else { throw ValidationError("--history-memory must be 1 to 1073741824 (MiB)") }
            configuration.historyMemory = mebibytes << 20
        }
        if let rooms = try number(maxRoomsPerConnection, "MAX_ROOMS_PER_CONNECTION") {
            guard rooms > 0 else { throw ValidationError("--max-rooms-per-connection must be at least 1") }
            configuration.maxRoomsPerConnection = rooms
        }
        if let drain = try number(drainTimeout, "DRAIN_TIMEOUT") { configuration.drainTimeout = seconds(drain) }
        if let directory = value(publicDir, "PUBLIC_DIR") { configuration.publicDirectory = directory }
        configuration.eventLoopThreads = try number(threads, "THREADS")
        if let milliseconds = try number(writeCoalescing, "WRITE_COALESCING") {
            guard milliseconds >= 0, milliseconds <= 100 else { throw ValidationError("--write-coalescing must be 0 to 100 milliseconds") }
            configuration.writeCoalescing = .microseconds(Int64(milliseconds * 1000))
        }
        if let interval = try number(heapTrimInterval, "HEAP_TRIM_INTERVAL") {
            // A trim walks the arenas (~1 ms in the soak): below 0.1 s that is over 1 % of a
            // core, and an interval that rounds to 0 ms would spin.
            guard interval == 0 || interval >= 0.1 else { throw ValidationError("--heap-trim-interval must be 0 (off) or at least 0.1 seconds") }
            configuration.heapTrimInterval = interval == 0 ? nil : seconds(interval)
        }
        configuration.echoPath = value(echoPath, "ECHO_PATH")
        if let url = value(postgres, "POSTGRES_URL"), !url.isEmpty {
            let name = value(nodeName, "NODE_NAME") ?? "\(ProcessInfo.processInfo.hostName)-\(ProcessInfo.processInfo.processIdentifier)"
            var cluster = PostgresCluster.Configuration(url: url, nodeName: name)
            if let timeout = try number(nodeTimeout, "NODE_TIMEOUT") {
                guard timeout > 0 else { throw ValidationError("--node-timeout must be > 0") }
                cluster.nodeTimeout = seconds(timeout)
            }
            if let interval = try number(pollInterval, "POLL_INTERVAL") {
                guard interval > 0 else { throw ValidationError("--poll-interval must be > 0") }
                cluster.pollInterval = seconds(interval)
            }
            if let timeout = try number(postgresTimeout, "POSTGRES_TIMEOUT") {
                guard timeout > 0 else { throw ValidationError("--postgres-timeout must be > 0") }
                cluster.queryTimeout = seconds(timeout)
            }
            configuration.postgres = cluster
        }
        if compression || ["1", "true", "yes", "on"].contains(environment["SWITCHBOARD_COMPRESSION"]?.lowercased() ?? "") {
            configuration.connection.compression = PerMessageDeflate.Configuration()
        }

        var logger = Logger(label: "switchboard")
        let level = value(logLevel, "LOG_LEVEL") ?? "info"
        guard let parsedLevel = Logger.Level(rawValue: level) else { throw ValidationError("unknown log level \(level)") }
        logger.logLevel = parsedLevel

        let eventLoopGroup: (any EventLoopGroup)?
        if try flag(tasksOnEventLoops, "TASKS_ON_EVENT_LOOPS") ?? true {
            eventLoopGroup = Self.runTasksOnEventLoops(count: configuration.eventLoopThreads ?? AvailableCPUs.count)
        } else {
            eventLoopGroup = nil
        }
        let server = try await ChatServer(configuration: configuration, eventLoopGroup: eventLoopGroup, logger: logger)
        let scheme = configuration.tlsCertificatePath == nil ? "http" : "https"
        let listeningLogger = logger
        let host = configuration.host
        let group = try server.makeServiceGroup(onListening: { port in
            listeningLogger.notice("switchboard listening", metadata: ["url": "\(scheme)://\(host):\(port)/"])
        })
        try await group.run()
    }

    /// Makes NIO's singleton group (`count` loops) Swift's global executor: a task started
    /// or resumed on an event loop then runs on that loop, after its I/O, instead of waking
    /// a thread of Swift's pool and handing the result back (measured: BENCHMARKS.md, seventh
    /// session). Process-wide, so the command does it, not the library. Blocking work must
    /// not run in tasks then; bcrypt already runs on `NIOThreadPool`.
    /// - Returns: the singleton group, or nil if the hook could not be installed.
    static func runTasksOnEventLoops(count: Int) -> (any EventLoopGroup)? {
        NIOSingletons.groupLoopCountSuggestion = count
        guard NIOSingletons.unsafeTryInstallSingletonPosixEventLoopGroupAsConcurrencyGlobalExecutor() else { return nil }
        return MultiThreadedEventLoopGroup.singleton
    }
}
