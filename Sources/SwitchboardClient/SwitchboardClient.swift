import Foundation
import Logging
import NIOCore
import NIOWebSocket
import SwitchboardProtocol
import WSClient

/// A Switchboard chat client: typed events and calls over one WebSocket that it keeps alive,
/// reconnecting with backoff, rejoining its rooms where it left off and retrying sends once.
///
/// Run it with `run()` inside your own task (group); cancel that task to stop. Calls made while
/// it reconnects wait (up to their timeout) instead of failing.
public actor SwitchboardClient {
    /// Messages, presence and recovery outcomes. Unbounded: a slow reader delays nothing.
    public nonisolated let events: AsyncStream<ClientEvent>
    /// The connection state; keeps only the newest, so a slow reader sees the current state.
    public nonisolated let status: AsyncStream<ConnectionStatus>
    /// The username the server knows this client as, once logged in.
    public private(set) var user: String?
    /// What ended the last connection (or attempt). `status` keeps only the newest state, so
    /// a reason carried by a short-lived `.reconnecting` can be read here afterwards.
    public private(set) var lastDisconnectReason: DisconnectReason?

    private let eventsContinuation: AsyncStream<ClientEvent>.Continuation
    private let statusContinuation: AsyncStream<ConnectionStatus>.Continuation
    private let endpoint: ServerEndpoint
    private let credentials: Credentials
    private let configuration: ClientConfiguration
    private let clock: any Clock<Duration>
    private let logger: Logger
    private var lifecycle: ConnectionLifecycle
    private var outbound: WebSocketOutboundWriter?
    private var ready = false
    private var stoppedReason: DisconnectReason?
    /// Joined rooms and where each was left off; rejoined after every reconnect.
    private var rooms: [String: RoomCursor] = [:]
    /// Live messages of rooms being caught up, delivered after the catch-up so order holds.
    private var heldBack: [String: [NewMessage]] = [:]
    private let replies = WaiterTable<Envelope>()
    private let readiness = WaiterTable<Void>()

    public init(
        url: String, credentials: Credentials, configuration: ClientConfiguration = .init(),
        clock: any Clock<Duration> = ContinuousClock(), logger: Logger = Logger(label: "switchboard.client")
    ) throws {
        guard let endpoint = ServerEndpoint(url: url) else { throw SwitchboardClientError.invalidURL(url) }
        self.endpoint = endpoint
        self.credentials = credentials
        self.configuration = configuration
        self.clock = clock
        self.logger = logger
        var canReconnect = true
        if case .ticket = credentials { canReconnect = false }
        lifecycle = ConnectionLifecycle(
            backoff: configuration.backoff, maxAttempts: configuration.maxReconnectAttempts, canReconnect: canReconnect
        )
        (events, eventsContinuation) = AsyncStream.makeStream(bufferingPolicy: .unbounded)
        (status, statusContinuation) = AsyncStream.makeStream(bufferingPolicy: .bufferingNewest(1))
    }

    // MARK: calls

    /// Joins `room` and remembers it: after a reconnect it is rejoined from the last message seen.
    public func join(_ room: String, timeout: Duration? = nil) async throws -> JoinResult {
        // Live messages may be read before this call resumes with the ack: keep them until the
        // cursor is known.
        if rooms[room] == nil { heldBack[room] = [] }
        let reply: Envelope
        do {
            reply = try await request(EventType.joinRoom, JoinRoomRequest(room: room), timeout: timeout)
        } catch {
            if rooms[room] == nil { heldBack[room] = nil }
            throw error
        }
        let ack = try decode(JoinAck.self, from: reply)
        if rooms[ack.room] == nil { rooms[ack.room] = RoomCursor(epoch: ack.epoch, lastSeq: ack.seq) }
        deliver(heldBack.removeValue(forKey: ack.room) ?? [])
        return JoinResult(
            room: ack.room, members: ack.members, seq: ack.seq, epoch: ack.epoch, history: ack.history, recovered: ack.recovered
        )
    }

    public func leave(_ room: String, timeout: Duration? = nil) async throws {
        rooms[room] = nil
        _ = try await request(EventType.leaveRoom, LeaveRoomRequest(room: room), timeout: timeout)
    }

    /// One page of `room`'s messages after `since` or before `before`, oldest first; `more`
    /// tells whether more lie beyond it in that direction.
    public func history(
        room: String, since: Int? = nil, before: Int? = nil, limit: Int? = nil, timeout: Duration? = nil
    ) async throws -> HistoryAck {
        let reply = try await request(
            EventType.history, HistoryRequest(room: room, since: since, before: before, limit: limit), timeout: timeout
        )
        return try decode(HistoryAck.self, from: reply)
    }

    /// Sends `message` to `room` and returns its `seq` once the server stored it. A send cut off
    /// by a reconnect is sent again with the same idempotency key: delivered once either way.
    public func send(_ message: String, to room: String, timeout: Duration? = nil) async throws -> Int {
        let key = UUID().uuidString
        let reply = try await request(
            EventType.sendMessage, SendMessageRequest(room: room, message: message, idempotencyKey: key), timeout: timeout
        )
        return try decode(SendAck.self, from: reply).seq
    }

    /// The rooms this client is in (and rejoins after a reconnect).
    public var joinedRooms: [String] { rooms.keys.sorted() }

    // MARK: connection loop

    /// Connects and keeps the connection until the client stops for good (401, 403, a spent
    /// ticket, the attempts run out) or the calling task is cancelled; returns the reason.
    @discardableResult
    public func run() async -> DisconnectReason {
        var action = lifecycle.start()
        while true {
            if Task.isCancelled { action = lifecycle.close() }
            switch action {
            case .connect:
                statusContinuation.yield(.connecting)
                action = await connectOnce()
            case .wait(let attempt, let delay, let reason):
                lastDisconnectReason = reason
                statusContinuation.yield(.reconnecting(attempt: attempt, after: delay, reason: reason))
                do {
                    try await clock.sleep(for: delay)
                    action = lifecycle.delayElapsed()
                } catch {
                    action = lifecycle.close()
                }
            case .stop(let reason):
                stop(reason)
                return reason
            case .none:
                // Unreachable by construction: every state the loop is in has a next action.
                stop(.closedByClient)
                return .closedByClient
            }
        }
    }

    private func stop(_ reason: DisconnectReason) {
        stoppedReason = reason
        lastDisconnectReason = reason
        statusContinuation.yield(.disconnected(reason))
        statusContinuation.finish()
        eventsContinuation.finish()
        readiness.resumeAll(with: .failure(SwitchboardClientError.stopped(reason)))
        replies.resumeAll(with: .failure(SwitchboardClientError.stopped(reason)))
    }

    private func connectOnce() async -> ConnectionLifecycle.Action {
        let ticket: String
        do {
            ticket = try await obtainTicket()
        } catch let failure as HTTPLogin.Failure {
            logger.info("login refused", metadata: ["status": "\(failure.status)"])
            switch failure.status {
            case 401: return lifecycle.connectFailed(.unauthorized, randomUnit: .random(in: 0..<1))
            case 403: return lifecycle.connectFailed(.forbidden, randomUnit: .random(in: 0..<1))
            default: return lifecycle.connectFailed(.transient("login: HTTP \(failure.status)"), randomUnit: .random(in: 0..<1))
            }
        } catch {
            return lifecycle.connectFailed(.transient("login: \(error)"), randomUnit: .random(in: 0..<1))
        }
        var webSocketConfiguration = WebSocketClientConfiguration(
            maxFrameSize: configuration.maxMessageSize, closeTimeout: .seconds(2),
            autoPing: .enabled(timePeriod: configuration.heartbeatInterval)
        )
        webSocketConfiguration.sniHostname = endpoint.host.isIPAddress ? nil : endpoint.host
        let maxMessageSize = configuration.maxMessageSize
        do {
            let closeFrame = try await WebSocketClient.connect(
                url: endpoint.webSocketURL(ticket: ticket), configuration: webSocketConfiguration,
                tlsConfiguration: endpoint.isTLS ? configuration.tls.configuration() : nil, logger: logger
            ) { inbound, outbound, _ in
                await self.opened(outbound)
                try await withThrowingTaskGroup(of: Void.self) { group in
                    group.addTask { await self.resume() }
                    do {
                        for try await message in inbound.messages(maxSize: maxMessageSize) {
                            if case .text(let text) = message { await self.received(text) }
                        }
                    } catch {
                        await self.connectionEnded()
                        throw error
                    }
                    await self.connectionEnded()
                    group.cancelAll()
                }
            }
            let wasOpen = lifecycle.state == .connected
            connectionEnded()
            outbound = nil
            guard wasOpen else { return lifecycle.connectFailed(.transient("upgrade refused"), randomUnit: .random(in: 0..<1)) }
            let reason: DisconnectReason = closeFrame.map { .closed(CloseReason(code: UInt16(webSocketErrorCode: $0.closeCode))) } ?? .connectionLost
            logger.info("disconnected", metadata: ["reason": "\(reason)"])
            return lifecycle.disconnected(reason, randomUnit: .random(in: 0..<1))
        } catch {
            let wasOpen = lifecycle.state == .connected
            connectionEnded()
            outbound = nil
            if Task.isCancelled { return lifecycle.close() }
            return wasOpen
                ? lifecycle.disconnected(.connectionLost, randomUnit: .random(in: 0..<1))
                : lifecycle.connectFailed(.transient("\(error)"), randomUnit: .random(in: 0..<1))
        }
    }

    private func obtainTicket() async throws -> String {
        let login = HTTPLogin(
            endpoint: endpoint, tls: endpoint.isTLS ? configuration.tls.configuration() : nil, timeout: configuration.loginTimeout
        )
        let response: LoginResponse
        switch credentials {
        case .ticket(let ticket):
            return ticket
        case .password(let username, let password):
            response = try await login.login(username: username, password: password, bearerToken: nil)
        case .token(let provider):
            response = try await login.login(username: nil, password: nil, bearerToken: try await provider())
        }
        user = response.user
        return response.ticket
    }

    private func opened(_ writer: WebSocketOutboundWriter) {
        outbound = writer
        _ = lifecycle.connected()
        statusContinuation.yield(.connected)
    }

    private func connectionEnded() {
        ready = false
        outbound = nil
        // Keep the keys: a join() still waiting for its ack holds its room's live messages.
        for room in heldBack.keys { heldBack[room] = [] }
        replies.resumeAll(with: .failure(ConnectionLost()))
    }

    /// Rejoins every room from its last message, catches up, then lets waiting calls through.
    private func resume() async {
        for (room, cursor) in rooms.sorted(by: { $0.key < $1.key }) {
            do {
                try await rejoin(room, from: cursor)
            } catch let refusal as SwitchboardClientError where !refusal.isWorthRetrying {
                // The server answered, and no: retrying on a new connection would get the same
                // answer, so the room is given up (and the error logged) instead of the others.
                logger.warning("rejoin refused", metadata: ["room": "\(room)", "error": "\(refusal)"])
                rooms[room] = nil
                heldBack[room] = nil
                eventsContinuation.yield(.lostRoom(room: room, error: refusal))
            } catch {
                // No answer: the connection is going away, or is stuck. Closing it gets a fresh
                // one either way, and the next resume tries again.
                logger.warning("rejoin failed", metadata: ["room": "\(room)", "error": "\(error)"])
                try? await outbound?.close(.goingAway, reason: "rejoin failed")
                return
            }
        }
        ready = true
        readiness.resumeAll(with: .success(()))
    }

    private func rejoin(_ room: String, from cursor: RoomCursor) async throws {
        heldBack[room] = []
        let reply = try await roundTrip(
            EventType.joinRoom, JoinRoomRequest(room: room, since: cursor.lastSeq, epoch: cursor.epoch),
            deadline: .now + configuration.requestTimeout
        )
        let ack = try decode(JoinAck.self, from: reply)
        if ack.recovered == false {
            rooms[room] = RoomCursor(epoch: ack.epoch, lastSeq: 0)
            eventsContinuation.yield(.gap(room: room, epoch: ack.epoch))
        }
        deliver(ack.history)
        var more = ack.more
        while more {
            let last = rooms[room]?.lastSeq ?? 0
            let page = try decode(
                HistoryAck.self,
                from: try await roundTrip(
                    EventType.history, HistoryRequest(room: room, since: last, limit: 100),
                    deadline: .now + configuration.requestTimeout
                )
            )
            deliver(page.messages)
            more = page.more && !page.messages.isEmpty
        }
        // Live messages start after the join's seq, whether or not the catch-up reached it.
        if var cursor = rooms[room] {
            cursor.epoch = ack.epoch
            cursor.lastSeq = max(cursor.lastSeq, ack.seq)
            rooms[room] = cursor
        }
        deliver(heldBack.removeValue(forKey: room) ?? [])
        if ack.recovered == true { eventsContinuation.yield(.recovered(room: room)) }
    }

    /// Emits each message once: anything at or below the room's cursor was already delivered.
    private func deliver(_ messages: [NewMessage]) {
        for message in messages {
            guard var cursor = rooms[message.room], message.seq > cursor.lastSeq else { continue }
            cursor.lastSeq = message.seq
            rooms[message.room] = cursor
            eventsContinuation.yield(.newMessage(message))
        }
    }

    private func received(_ text: String) {
        let envelope: Envelope
        do {
            envelope = try Envelope.decode(Data(text.utf8))
        } catch {
            logger.warning("unreadable server event", metadata: ["error": "\(error.error.message)"])
            return
        }
        switch envelope.type {
        case EventType.ack, EventType.error:
            guard case .int(let key)? = envelope.id else { return }
            replies.resume(key: key, with: .success(envelope))
        case EventType.newMessage:
            guard let message = try? envelope.payload(as: NewMessage.self) else { return }
            if heldBack[message.room] != nil {
                heldBack[message.room]?.append(message)
            } else {
                deliver([message])
            }
        case EventType.userJoined:
            if let change = try? envelope.payload(as: PresenceChange.self) {
                eventsContinuation.yield(.userJoined(room: change.room, user: change.user))
            }
        case EventType.userLeft:
            if let change = try? envelope.payload(as: PresenceChange.self) {
                eventsContinuation.yield(.userLeft(room: change.room, user: change.user))
            }
        default:
            // An event from a newer server: ignoring it keeps this client working.
            break
        }
    }

    // MARK: requests

    private struct ConnectionLost: Error {}

    /// Sends one event and waits for its reply, across reconnects, until `timeout`.
    private func request<Payload: Encodable & Sendable>(
        _ type: String, _ payload: Payload, timeout: Duration?
    ) async throws -> Envelope {
        let deadline = ContinuousClock.now + (timeout ?? configuration.requestTimeout)
        while true {
            if let stoppedReason { throw SwitchboardClientError.stopped(stoppedReason) }
            if !ready {
                let key = readiness.makeKey()
                try await withDeadline(deadline) { try await self.readiness.wait(key: key) }
                continue
            }
            do {
                return try await roundTrip(type, payload, deadline: deadline)
            } catch is ConnectionLost {
                continue  // the same event again on the next connection (sends keep their key)
            }
        }
    }

    private func roundTrip<Payload: Encodable & Sendable>(
        _ type: String, _ payload: Payload, deadline: ContinuousClock.Instant
    ) async throws -> Envelope {
        guard let outbound else { throw ConnectionLost() }
        let key = replies.makeKey()
        let text = String(decoding: try OutgoingEvent(type: type, id: .int(key), payload: payload).json(), as: UTF8.self)
        let reply = try await withDeadline(deadline) {
            try await withThrowingTaskGroup(of: Envelope?.self) { group in
                group.addTask { try await self.replies.wait(key: key) }
                group.addTask {
                    do {
                        try await outbound.writeTextMessage(text)
                    } catch {
                        throw ConnectionLost()
                    }
                    return nil
                }
                var reply: Envelope?
                for try await result in group where result != nil { reply = result }
                guard let reply else { throw ConnectionLost() }
                return reply
            }
        }
        if reply.type == EventType.error {
            throw SwitchboardClientError(try reply.payload(as: ErrorPayload.self))
        }
        return reply
    }

    private func decode<Payload: Decodable>(_ type: Payload.Type, from reply: Envelope) throws -> Payload {
        do {
            return try reply.payload(as: type)
        } catch {
            throw SwitchboardClientError.malformedReply(error.message)
        }
    }
}

/// Runs `body`, throwing `timedOut` if it has not finished by `deadline` (and cancelling it).
func withDeadline<T: Sendable>(
    _ deadline: ContinuousClock.Instant, _ body: @escaping @Sendable () async throws -> T
) async throws -> T {
    try await withThrowingTaskGroup(of: T?.self) { group in
        group.addTask { try await body() }
        group.addTask {
            try await Task.sleep(until: deadline, clock: .continuous)
            return nil
        }
        defer { group.cancelAll() }
        guard let first = try await group.next(), let value = first else { throw SwitchboardClientError.timedOut }
        return value
    }
}
