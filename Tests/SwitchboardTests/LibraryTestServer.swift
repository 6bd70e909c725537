import Hummingbird
import Logging
import NIOConcurrencyHelpers
import NIOCore
import ServiceLifecycle
import Switchboard
import SwitchboardTestSupport

/// A Hummingbird application using only the library, on an ephemeral loopback port:
/// `/ws?user=NAME` upgrades as NAME, `/echo` echoes, anything else is refused with 403.
struct LibraryTestServer {
    let hub: Hub
    let port: Int
    let logs: LogCapture
    let disconnects: NIOLockedValueBox<[ConnectionID: [CloseCode]]>

    func connect(_ user: String, autoPong: Bool = true, receiveBufferSize: Int? = nil) async throws -> TestWebSocketClient {
        let client = try await TestWebSocketClient.connect(
            port: port, path: "/ws?user=\(user)", autoPong: autoPong, receiveBufferSize: receiveBufferSize
        )
        return client
    }

    /// Close codes reported by the hub's disconnect observer, per connection.
    var closeCodes: [ConnectionID: [CloseCode]] { disconnects.withLockedValue { $0 } }

    static func run(
        configuration: SwitchboardServerConfiguration = .init(),
        router: EventRouter = LibraryTestServer.defaultRouter,
        runHub: Bool = true,
        presence: Hub.PresenceEncoder? = nil,
        onPresenceChange: Hub.PresenceObserver? = nil,
        http: Router<BasicRequestContext> = Router(),
        _ body: @Sendable (LibraryTestServer) async throws -> Void
    ) async throws {
        let logs = LogCapture()
        let disconnects = NIOLockedValueBox<[ConnectionID: [CloseCode]]>([:])
        let hub = Hub(logger: logs.logger, presence: presence, onDisconnect: { connection, code in
            disconnects.withLockedValue { $0[connection.id, default: []].append(code) }
        }, onPresenceChange: onPresenceChange)
        let (ports, portContinuation) = AsyncStream<Int>.makeStream()
        var configuration = configuration
        configuration.echoEnabled = true
        let app = Application(
            router: http,
            server: .switchboard(hub: hub, router: router, configuration: configuration) { request, _ in
                let target = request.path ?? ""
                if target == "/echo" { return .accept(user: "echo", mode: .echo) }
                if target.hasPrefix("/ws?user=") { return .accept(user: String(target.dropFirst("/ws?user=".count))) }
                return .reject(.forbidden, "not here")
            },
            configuration: .init(address: .hostname("127.0.0.1", port: 0)),
            onServerRunning: { channel in
                await SwitchboardChannel.configureListener(channel)
                portContinuation.yield(channel.localAddress?.port ?? 0)
            },
            logger: logs.logger
        )
        let group = ServiceGroup(configuration: .init(services: runHub ? [hub, app] : [app], logger: logs.logger))
        try await withThrowingTaskGroup(of: Void.self) { tasks in
            tasks.addTask { try await group.run() }
            var iterator = ports.makeAsyncIterator()
            guard let port = await iterator.next() else { return }
            let server = LibraryTestServer(hub: hub, port: port, logs: logs, disconnects: disconnects)
            do {
                try await body(server)
            } catch {
                await group.triggerGracefulShutdown()
                throw error
            }
            await group.triggerGracefulShutdown()
            try await tasks.waitForAll()
        }
    }

    /// `echo_event` acks its payload; `join` joins the room in `{"room"}` and `leave` leaves
    /// it; `fail` throws.
    static var defaultRouter: EventRouter {
        var router = EventRouter()
        router.on("echo_event", as: EchoPayload.self) { payload, _ in payload }
        router.on("join", as: RoomPayload.self, replying: { payload, context in
            guard let snapshot = context.hub.join(context.connection, room: payload.room, knownSeq: 0) else { return .replied }
            context.hub.completeJoin(context.connection, room: payload.room, reply: try context.ackFrame(["seq": snapshot.lastSeq]))
            return .replied
        })
        router.on("leave", as: RoomPayload.self) { payload, context in
            context.hub.leave(context.connection, room: payload.room)
            return payload
        }
        router.on("close_me", as: EchoPayload.self, replying: { _, context in
            context.connection.close(.normal, reason: "as asked")
            return .replied
        })
        router.on("fail", as: EchoPayload.self) { _, _ -> EchoPayload in
            throw EventError(.forbidden, "nope")
        }
        router.on("crash", as: EchoPayload.self) { _, _ -> EchoPayload in
            struct Unexpected: Error {}
            throw Unexpected()
        }
        return router
    }

    struct EchoPayload: Codable, Sendable {
        var text: String?
    }

    struct RoomPayload: Codable, Sendable {
        var room: String
    }
}

/// A text frame for `{"type":"m","payload":{"n":n,"from":from}}`, for fan-out tests.
func numberedFrame(_ n: Int, from: String = "t") -> OutboundFrame {
    OutboundFrame.text(#"{"type":"m","payload":{"n":\#(n),"from":"\#(from)"}}"#, allocator: ByteBufferAllocator())
}
