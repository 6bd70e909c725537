import Foundation
import Logging
import NIOSSL
import ServiceLifecycle
import Switchboard
import SwitchboardChat
import SwitchboardTestSupport

/// `switchboard serve` in-process on an ephemeral loopback port, with helpers to log in and
/// open chat connections the way a client would.
struct ChatTestServer {
    let server: ChatServer
    let group: ServiceGroup
    let port: Int
    let logs: LogCapture
    var tls: NIOSSLContext?

    static func run(
        _ configure: (inout ChatConfiguration) -> Void = { _ in },
        tls: NIOSSLContext? = nil,
        _ body: @Sendable (ChatTestServer) async throws -> Void
    ) async throws {
        var configuration = ChatConfiguration()
        configuration.port = 0
        configuration.publicDirectory = Self.repositoryRoot + "/Public"
        configure(&configuration)
        let logs = LogCapture()
        let server = try await ChatServer(configuration: configuration, logger: logs.logger)
        let (ports, continuation) = AsyncStream<Int>.makeStream()
        let group = try server.makeServiceGroup(onListening: { continuation.yield($0) }, signals: [])
        try await withThrowingTaskGroup(of: Void.self) { tasks in
            tasks.addTask { try await group.run() }
            var iterator = ports.makeAsyncIterator()
            guard let port = await iterator.next() else { return }
            let harness = ChatTestServer(server: server, group: group, port: port, logs: logs, tls: tls)
            do {
                try await body(harness)
            } catch {
                await group.triggerGracefulShutdown()
                throw error
            }
            await group.triggerGracefulShutdown()
            try await tasks.waitForAll()
        }
    }

    static let repositoryRoot: String = {
        var url = URL(fileURLWithPath: #filePath)
        for _ in 0..<3 { url.deleteLastPathComponent() }
        return url.path
    }()

    func http(_ method: String, _ path: String, headers: [(String, String)] = [], body: String? = nil) async throws -> TestHTTPClient.Response {
        try await TestHTTPClient.request(method, port: port, path: path, headers: headers, body: body, tls: tls)
    }

    /// Logs in and returns the ticket.
    func ticket(for user: String, password: String = "") async throws -> String {
        let response = try await http("POST", "/login", body: #"{"username":"\#(user)","password":"\#(password)"}"#)
        guard response.status == 200,
            let object = try JSONSerialization.jsonObject(with: Data(response.body.utf8)) as? [String: Any],
            let ticket = object["ticket"] as? String
        else { throw TestWebSocketClient.Timeout(waitingFor: "a ticket, got \(response.status) \(response.body)") }
        return ticket
    }

    /// Logs in and opens a WebSocket as `user`.
    func connect(_ user: String, headers: [(String, String)] = [], autoPong: Bool = true) async throws -> ChatClient {
        let ticket = try await ticket(for: user)
        let socket = try await TestWebSocketClient.connect(
            port: port, path: "/ws?ticket=\(ticket)", headers: headers, tls: tls, autoPong: autoPong
        )
        return ChatClient(socket: socket, user: user)
    }
}

/// A chat connection with protocol-level helpers.
struct ChatClient {
    let socket: TestWebSocketClient
    let user: String

    private static let ids = NIOLockedCounter()

    /// Sends an event with a fresh integer id and returns the reply with that id (ack or error).
    @discardableResult
    func request(_ type: String, _ payload: [String: Any]) async throws -> [String: Any] {
        let id = Self.ids.next()
        let data = try JSONSerialization.data(withJSONObject: ["type": type, "payload": payload, "id": id])
        try await socket.send(text: String(decoding: data, as: UTF8.self))
        while true {
            let event = try await socket.nextJSON()
            if event["id"] as? Int == id { return event }
            pending.append(event)
        }
    }

    func send(raw text: String) async throws { try await socket.send(text: text) }

    /// The next event of `type`, skipping others (including ones buffered by `request`).
    func next(_ type: String) async throws -> [String: Any] {
        if let index = pending.firstIndex(where: { $0["type"] as? String == type }) {
            return pending.remove(at: index)
        }
        return try await socket.nextEvent(ofType: type)
    }

    /// Events skipped while waiting for a reply, kept for `next`.
    var pending: EventBuffer { EventBuffer.for(socket) }

    func close() async { await socket.close() }
}

import NIOConcurrencyHelpers

final class NIOLockedCounter: Sendable {
    private let value = NIOLockedValueBox(0)
    func next() -> Int { value.withLockedValue { $0 += 1; return $0 } }
}

/// Per-socket store of events that arrived while a test waited for something else.
final class EventBuffer: @unchecked Sendable {
    private let lock = NIOLock()
    private var events: [[String: Any]] = []
    private static let buffers = NIOLockedValueBox<[ObjectIdentifier: EventBuffer]>([:])

    static func `for`(_ socket: TestWebSocketClient) -> EventBuffer {
        buffers.withLockedValue { buffers in
            let key = ObjectIdentifier(socket)
            if let buffer = buffers[key] { return buffer }
            let buffer = EventBuffer()
            buffers[key] = buffer
            return buffer
        }
    }

    func append(_ event: [String: Any]) { lock.withLock { events.append(event) } }
    func firstIndex(where predicate: ([String: Any]) -> Bool) -> Int? { lock.withLock { events.firstIndex(where: predicate) } }
    func remove(at index: Int) -> [String: Any] { lock.withLock { events.remove(at: index) } }
    func contains(type: String) -> Bool { firstIndex { $0["type"] as? String == type } != nil }
}

func payload(_ event: [String: Any]) -> [String: Any] { event["payload"] as? [String: Any] ?? [:] }
func errorCode(_ event: [String: Any]) -> String? { event["type"] as? String == "error" ? payload(event)["code"] as? String : nil }
