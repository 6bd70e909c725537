import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdCore
import HummingbirdTLS
import Logging
import NIOCore
import NIOPosix
import NIOSSL
import ServiceLifecycle
import UnixSignals
import Switchboard
import SwitchboardPostgres

/// The chat server: PROTOCOL.md over Switchboard's hub, with login, the page, health and
/// metrics. One client of the library among possible others.
public struct ChatServer: Sendable {
    public let configuration: ChatConfiguration
    public let hub: Hub
    public let store: any RoomStore
    public let tickets: any TicketIssuer
    /// The PostgreSQL cluster this node belongs to, if configured.
    public let cluster: PostgresCluster?
    public let state = ChatState()
    let authenticator: any Authenticator
    let origins: OriginPolicy
    let connectionLimiter: ConnectionLimiter
    let logger: Logger
    let eventLoopGroup: any EventLoopGroup
    /// Whether `eventLoopGroup` was made for this server (not NIO's shared singleton), so is
    /// shut down with it.
    let ownsEventLoopGroup: Bool

    /// - Parameter eventLoopGroup: the loops to serve on; the caller keeps and shuts it
    ///   down. Default: NIO's singleton when `eventLoopThreads` matches its size, else a
    ///   group of that many loops owned (and shut down) by this server.
    public init(
        configuration: ChatConfiguration, store: (any RoomStore)? = nil, eventLoopGroup: (any EventLoopGroup)? = nil,
        logger: Logger = Logger(label: "switchboard")
    ) async throws {
        // First: instruments made before the metrics system is bootstrapped (the hub's) would
        // be bound to the no-op backend forever.
        ChatMetrics.bootstrap()
        self.configuration = configuration
        self.logger = logger
        let threads = configuration.eventLoopThreads ?? AvailableCPUs.count
        ownsEventLoopGroup = eventLoopGroup == nil && threads != System.coreCount
        self.eventLoopGroup = eventLoopGroup
            ?? (ownsEventLoopGroup ? MultiThreadedEventLoopGroup(numberOfThreads: threads) : MultiThreadedEventLoopGroup.singleton)
        if var settings = configuration.postgres {
            settings.roomRetention = configuration.roomRetention
            settings.ticketLifetime = configuration.ticketLifetime
            let cluster = try await PostgresCluster.connect(configuration: settings, eventLoopGroup: self.eventLoopGroup, logger: logger)
            self.cluster = cluster
            // No local presence frames: every node's news comes back through the database,
            // once, to every node (this one included).
            hub = Hub(logger: logger, onPresenceChange: cluster.presence.changed, writeCoalescing: TimeAmount(configuration.effectiveWriteCoalescing))
            self.store = store ?? cluster.store
            tickets = cluster.tickets
        } else {
            let hub = Hub(logger: logger, presence: { ChatFrames.presence($0) }, writeCoalescing: TimeAmount(configuration.effectiveWriteCoalescing))
            cluster = nil
            self.hub = hub
            self.store = store ?? InMemoryRoomStore(
                maxMessagesPerRoom: configuration.roomRetention, memoryBudget: configuration.historyMemory,
                keepsSequence: { hub.hasRoom($0) }
            )
            tickets = TicketStore(lifetime: configuration.ticketLifetime)
        }
        switch configuration.auth {
        case .guest: authenticator = GuestAuthenticator()
        case .usersFile(let path):
            let users = try UsersFileAuthenticator(path: path)
            if users.userCount == 0 { logger.warning("users file \(path) lists no users: nobody can log in") }
            authenticator = users
        case .jwt(let settings): authenticator = try await JWTAuthenticator(settings: settings)
        }
        if let echoPath = configuration.echoPath, !echoPath.hasPrefix("/") || echoPath == "/ws" {
            throw ConfigurationError("the echo path must start with / and must not be /ws (it would replace the chat endpoint): \(echoPath)")
        }
        origins = try OriginPolicy(
            allowed: configuration.allowedOrigins, listenHost: configuration.host, port: configuration.port,
            secure: configuration.tlsCertificatePath != nil, publicURL: configuration.publicURL
        )
        connectionLimiter = ConnectionLimiter(limits: configuration.connectionLimits)
    }

    /// The Hummingbird application (HTTP routes + WebSocket upgrade), for embedding.
    public func makeApplication(onListening: @escaping @Sendable (Int) async -> Void = { _ in }) throws -> some ApplicationProtocol {
        var events = EventRouter()
        ChatEvents(store: store, directory: cluster?.presence, configuration: configuration).register(on: &events)

        var serverConfiguration = SwitchboardServerConfiguration()
        serverConfiguration.connection = configuration.connection
        serverConfiguration.echoEnabled = configuration.echoPath != nil
        serverConfiguration.requestTimeout = configuration.requestTimeout
        let routes = HTTPRoutes(
            authenticator: authenticator, tickets: tickets, state: state,
            storageReachable: { [cluster] in cluster?.database.isReachable ?? true },
            publicDirectory: configuration.publicDirectory,
            loginLimiter: LoginRateLimiter(limits: configuration.loginLimits), logger: logger
        )
        serverConfiguration.eventLoopRoutes = routes.eventLoopRoutes()
        var server: HTTPServerBuilder = .switchboard(hub: hub, router: events, configuration: serverConfiguration, upgradeGate: makeUpgradeGate())
        if let certificate = configuration.tlsCertificatePath, let key = configuration.tlsKeyPath {
            var tls = TLSConfiguration.makeServerConfiguration(
                certificateChain: try NIOSSLCertificate.fromPEMFile(certificate).map { .certificate($0) },
                privateKey: .privateKey(try NIOSSLPrivateKey(file: key, format: .pem))
            )
            // TLS 1.0 and 1.1 are deprecated (RFC 8996); below 1.3 only ECDHE key exchange with
            // AEAD ciphers, so a recorded session cannot be decrypted with a key stolen later.
            // (Every TLS 1.3 suite is forward secret.)
            tls.minimumTLSVersion = .tlsv12
            tls.cipherSuites = Self.forwardSecretCipherSuites
            server = try .tls(server, tlsConfiguration: tls)
        }
        return Application(
            router: routes.router(),
            server: server,
            configuration: .init(address: .hostname(configuration.host, port: configuration.port), serverName: nil),
            onServerRunning: { [origins] channel in
                if let port = channel.localAddress?.port { origins.listening(on: port) }
                await SwitchboardChannel.configureListener(channel)
                await onListening(channel.localAddress?.port ?? 0)
            },
            eventLoopGroupProvider: .shared(eventLoopGroup),
            logger: logger
        )
    }

    /// TLS 1.2 suites with forward secrecy (ECDHE) and authenticated encryption, in
    /// BoringSSL's names: Mozilla's "intermediate" list.
    static let forwardSecretCipherSuites = [
        "ECDHE-ECDSA-AES128-GCM-SHA256", "ECDHE-RSA-AES128-GCM-SHA256",
        "ECDHE-ECDSA-AES256-GCM-SHA384", "ECDHE-RSA-AES256-GCM-SHA384",
        "ECDHE-ECDSA-CHACHA20-POLY1305", "ECDHE-RSA-CHACHA20-POLY1305",
    ].joined(separator: ":")

    /// The services to run: the event loops' owner, the hub (its event handlers), the HTTP
    /// server, then the hub's drain. They shut down in reverse: drain the connections, stop
    /// HTTP, wait for the last event handlers, then shut down the event-loop group if this
    /// server created it.
    public func makeServiceGroup(
        onListening: @escaping @Sendable (Int) async -> Void = { _ in },
        signals: [UnixSignal] = [.sigterm, .sigint]
    ) throws -> ServiceGroup {
        let app = try makeApplication(onListening: onListening)
        let drain = HubDrainService(hub: hub, state: state, drainTimeout: configuration.drainTimeout)
        let loops = EventLoopGroupService(ownedGroup: ownsEventLoopGroup ? eventLoopGroup : nil)
        var services: [any Service] = [loops]
        if let cluster {
            let frames = ByteBufferAllocator()
            services.append(cluster.service(
                hub: hub, messageFrame: { ChatFrames.newMessage($0, allocator: frames) }, presenceFrame: { ChatFrames.presence($0) }
            ))
        }
        services += [hub, app, drain] as [any Service]
        // Only where there is a trim: a service that returns early would end the group.
        if let interval = configuration.heapTrimInterval, HeapTrimmer.isAvailable {
            services.append(HeapTrimService(hub: hub, interval: interval, logger: logger))
        }
        return ServiceGroup(configuration: .init(services: services, gracefulShutdownSignals: signals, logger: logger))
    }

    /// Who may upgrade: `/ws` with a valid ticket from an allowed origin; the echo endpoint
    /// if enabled; nothing else. With tickets in memory every check is, so the decision is
    /// made on the event loop; a cluster's tickets are in the database, redeemed in a task.
    func makeUpgradeGate() -> UpgradeGate {
        let admission = makeAdmission()
        if let local = tickets as? TicketStore {
            return .onEventLoop { request, channel in
                switch admission(request, channel) {
                case .decided(let decision): return decision
                case .redeem(let ticket): return Self.decision(redeeming: local.redeem(ticket))
                }
            }
        }
        let tickets = tickets
        let reachable: @Sendable () -> Bool = { [cluster] in cluster?.database.isReachable ?? true }
        return .async { request, channel in
            switch admission(request, channel) {
            case .decided(let decision):
                return decision
            case .redeem(let ticket):
                // A node that cannot reach its database could not serve the connection.
                guard reachable() else { return .reject(.serviceUnavailable, "storage unreachable; try another node") }
                do {
                    return Self.decision(redeeming: try await tickets.redeem(ticket))
                } catch {
                    return .reject(.serviceUnavailable, "storage unreachable; try again")
                }
            }
        }
    }

    private static func decision(redeeming user: String?) -> UpgradeDecision {
        guard let user else { return .reject(.unauthorized, "unknown, expired or used ticket") }
        return .accept(user: user)
    }

    /// What an upgrade request gets before its ticket is looked at.
    enum Admission {
        case decided(UpgradeDecision)
        /// Everything else passed: the ticket decides.
        case redeem(String)
    }

    /// The checks that need no ticket store, in order: path, origin, connection limits.
    func makeAdmission() -> @Sendable (HTTPRequest, any Channel) -> Admission {
        let origins = origins
        let limiter = connectionLimiter
        let echoPath = configuration.echoPath
        return { request, channel in
            let target = URI(request.path ?? "/")
            let path = target.path
            guard path == "/ws" || path == echoPath else { return .decided(.reject(.notFound, "no WebSocket endpoint at \(path)")) }
            // Both endpoints: a page on another site must not use the echo endpoint either.
            guard origins.permits(origin: request.headerFields[.origin]) else {
                return .decided(.reject(.forbidden, "origin not allowed"))
            }
            // Before the ticket, so a client turned away for now keeps its ticket for a retry.
            switch limiter.admit(channel) {
            case .serverFull: return .decided(.reject(.serviceUnavailable, "server is at its connection limit"))
            case .addressFull: return .decided(.reject(.tooManyRequests, "too many connections from this address"))
            case nil: break
            }
            if path == echoPath { return .decided(.accept(user: "echo", mode: .echo)) }
            // Percent-decoded: a client may encode the ticket however its URL library likes.
            guard let ticket = target.queryParameters["ticket"], !ticket.isEmpty else {
                return .decided(.reject(.unauthorized, "missing ticket"))
            }
            return .redeem(String(ticket))
        }
    }
}
