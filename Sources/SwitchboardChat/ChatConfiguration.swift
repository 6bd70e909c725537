import NIOCore
import Switchboard
import SwitchboardPostgres

/// Everything `switchboard serve` can be told. Defaults are the embedded development setup:
/// in memory, guest login, plain HTTP on localhost.
public struct ChatConfiguration: Sendable {
    public enum AuthMode: Sendable, Equatable {
        /// Any valid username logs in, with any password or none.
        case guest
        /// Users and bcrypt hashes from a file: one `username:$2b$...` per line.
        case usersFile(path: String)
        /// A signed JWT from an identity provider, verified with these keys.
        case jwt(JWTSettings)
    }

    public struct JWTSettings: Sendable, Equatable {
        /// Shared secret for HS256 tokens.
        public var hmacSecret: String?
        /// PEM public key for ES256 tokens.
        public var ecdsaPublicKeyPEM: String?
        /// The claim that names the user.
        public var usernameClaim: String = "sub"
        public var issuer: String?
        public var audience: String?

        public init(hmacSecret: String? = nil, ecdsaPublicKeyPEM: String? = nil, usernameClaim: String = "sub", issuer: String? = nil, audience: String? = nil) {
            self.hmacSecret = hmacSecret
            self.ecdsaPublicKeyPEM = ecdsaPublicKeyPEM
            self.usernameClaim = usernameClaim
            self.issuer = issuer
            self.audience = audience
        }
    }

    public var host = "127.0.0.1"
    public var port = 8080
    public var auth: AuthMode = .guest
    /// Origins allowed to open WebSockets, e.g. `https://chat.example.com`. Empty: only the
    /// server's own origins, from its configured address (`OriginPolicy`), never from the
    /// `Host` a request names. Requests without `Origin` (non-browser clients) are always
    /// allowed.
    public var allowedOrigins: [String] = []
    /// Where users reach the server when that is not its listen address (a DNS name, a
    /// TLS-terminating proxy), e.g. `https://chat.example.com`; its origin is allowed.
    public var publicURL: String?
    public var tlsCertificatePath: String?
    public var tlsKeyPath: String?
    public var ticketLifetime: Duration = .seconds(30)
    /// `POST /login` limits per remote address.
    public var loginLimits = LoginRateLimiter.Limits()
    /// WebSocket connections in all and per remote address (upgrade `503` / `429` above).
    public var connectionLimits = ConnectionLimiter.Limits()
    /// How long a plain-HTTP request may take to arrive, head to end of body; nil: no limit.
    public var requestTimeout: Duration? = .seconds(30)
    /// Latest messages sent with a plain join.
    public var historyLimit = 50
    /// Messages each room keeps for history and recovery.
    public var roomRetention = 1000
    /// Bytes of history the in-memory store keeps over all rooms; least recently used rooms go first.
    public var historyMemory = 256 << 20
    /// Rooms one connection may be in at once (`too_many_rooms` past it).
    public var maxRoomsPerConnection = 100
    /// Per-connection limits and timers; `connection.compression` turns on permessage-deflate.
    public var connection = ConnectionConfiguration()
    /// How long shutdown waits for connections to drain before dropping them.
    public var drainTimeout: Duration = .seconds(10)
    /// Where the browser page is served from.
    public var publicDirectory = "Public"
    /// Path of the conformance echo endpoint; nil (the default) disables it.
    public var echoPath: String?
    /// How long each event loop gathers outgoing frames before writing them (see
    /// `Hub.init(writeCoalescing:)`): at most this much added latency for one write syscall
    /// per member per pass instead of one per message. Zero writes at once; nil is 1 ms in
    /// memory and 5 ms on PostgreSQL (`effectiveWriteCoalescing`).
    public var writeCoalescing: Duration?

    /// On PostgreSQL a node's messages arrive as its append batches commit, and a burst of
    /// sends becomes two or three batches a database round trip apart: 1 ms gathered too
    /// little of it (fan-out CPU per delivery 1.8x the in-memory node's), 5 ms brings it to
    /// 1.2x and lowers p50 and p99 too, against the cluster's own latency of tens of
    /// milliseconds (BENCHMARKS.md, seventh session).
    public var effectiveWriteCoalescing: Duration {
        writeCoalescing ?? (postgres == nil ? .milliseconds(1) : .milliseconds(5))
    }
    /// Event-loop threads; nil sizes the group from the CPUs this process may run on.
    public var eventLoopThreads: Int?
    /// How often the heap's free pages go back to the system after connections came or
    /// went (glibc only; see `HeapTrimService`); nil never.
    public var heapTrimInterval: Duration? = .seconds(10)
    /// A cluster on PostgreSQL (durable rooms, cross-node fan-out, cluster-wide tickets and
    /// presence); nil (the default) keeps everything in this process's memory. Its retention
    /// and ticket lifetime are taken from `roomRetention` and `ticketLifetime`.
    public var postgres: PostgresCluster.Configuration?

    public init() {}
}
