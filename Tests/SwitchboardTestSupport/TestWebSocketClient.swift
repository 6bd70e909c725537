import Foundation
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import NIOSSL

/// A deliberately low-level WebSocket client for tests: it speaks the handshake and the
/// framing itself, so a test can misbehave on purpose (unmasked frames, no pongs, never
/// reading, dropping TCP without a close frame) as well as behave.
public final class TestWebSocketClient: @unchecked Sendable {
    public enum Event: Sendable, Equatable {
        case text(String)
        case binary([UInt8])
        case ping([UInt8])
        case pong([UInt8])
        /// A message whose first frame had RSV1 set (permessage-deflate): the opcode of that
        /// frame and the still-compressed payload of all its frames.
        case compressed(opcode: UInt8, payload: [UInt8])
        case close(code: UInt16?, reason: String)
        /// The TCP connection ended.
        case disconnected
    }

    public struct Refused: Error, CustomStringConvertible {
        public var status: Int
        public var body: String
        public var description: String { "upgrade refused: \(status) \(body)" }
    }

    public struct Timeout: Error, CustomStringConvertible {
        public var waitingFor: String
        public init(waitingFor: String) { self.waitingFor = waitingFor }
        public var description: String { "timed out waiting for \(waitingFor)" }
    }

    public let channel: any Channel
    private let state: ClientState

    private init(channel: any Channel, state: ClientState) {
        self.channel = channel
        self.state = state
    }

    public static let group = MultiThreadedEventLoopGroup.singleton

    /// Connects and upgrades; throws `Refused` with the HTTP status if the server says no.
    public static func connect(
        host: String = "127.0.0.1",
        port: Int,
        path: String,
        headers: [(String, String)] = [],
        tls: NIOSSLContext? = nil,
        autoPong: Bool = true,
        receiveBufferSize: Int? = nil,
        timeout: Duration = .seconds(10),
        hostHeader: String? = nil
    ) async throws -> TestWebSocketClient {
        let state = ClientState(autoPong: autoPong)
        var bootstrap = ClientBootstrap(group: group)
        if let receiveBufferSize {
            bootstrap = bootstrap.channelOption(ChannelOptions.socketOption(.so_rcvbuf), value: SocketOptionValue(receiveBufferSize))
        }
        let channel = try await bootstrap.channelInitializer { channel in
            channel.eventLoop.makeCompletedFuture {
                if let tls {
                    try channel.pipeline.syncOperations.addHandler(try NIOSSLClientHandler(context: tls, serverHostname: nil))
                }
                try channel.pipeline.syncOperations.addHandler(ClientHandler(state: state))
            }
        }.connect(host: host, port: port).get()
        let client = TestWebSocketClient(channel: channel, state: state)
        let key = Data((0..<16).map { _ in UInt8.random(in: 0...255) }).base64EncodedString()
        var request = "GET \(path) HTTP/1.1\r\nHost: \(hostHeader ?? "\(host):\(port)")\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        request += "Sec-WebSocket-Key: \(key)\r\nSec-WebSocket-Version: 13\r\n"
        for (name, value) in headers { request += "\(name): \(value)\r\n" }
        request += "\r\n"
        try await channel.writeAndFlush(ByteBuffer(string: request))
        let response = try await client.waitFor("the upgrade response", timeout: timeout) { state in state.response }
        if response.status != 101 {
            try? await channel.close()
            throw Refused(status: response.status, body: response.body)
        }
        return client
    }

    /// The HTTP status an upgrade request gets: 101 (the connection is closed again at once)
    /// or the refusal's status. For tests of who may connect; `hostHeader` replaces the
    /// `Host` the request names (as a DNS-rebinding page would).
    public static func upgradeStatus(
        port: Int, path: String, headers: [(String, String)] = [], tls: NIOSSLContext? = nil, hostHeader: String? = nil
    ) async throws -> Int {
        do {
            let client = try await connect(port: port, path: path, headers: headers, tls: tls, hostHeader: hostHeader)
            await client.close()
            return 101
        } catch let refused as Refused {
            return refused.status
        }
    }

    // MARK: sending

    public func send(text: String) async throws {
        try await sendFrame(opcode: 0x1, payload: Array(text.utf8))
    }

    public func send(binary: [UInt8]) async throws {
        try await sendFrame(opcode: 0x2, payload: binary)
    }

    public func sendClose(code: UInt16 = 1000, reason: String = "") async throws {
        state.withLock { $0.closeSent = true }
        var payload = [UInt8(code >> 8), UInt8(code & 0xFF)]
        payload += Array(reason.utf8)
        try await sendFrame(opcode: 0x8, payload: payload)
    }

    /// Sends one frame; `masked: false` breaks RFC 6455 §5.1 on purpose. `rsv1` marks a
    /// compressed message (permessage-deflate): the payload must then be compressed already.
    public func sendFrame(opcode: UInt8, payload: [UInt8], fin: Bool = true, masked: Bool = true, rsv1: Bool = false) async throws {
        try await sendRaw(Self.encodeFrame(opcode: opcode, payload: payload, fin: fin, masked: masked, rsv1: rsv1))
    }

    public func sendRaw(_ bytes: [UInt8]) async throws {
        try await channel.writeAndFlush(ByteBuffer(bytes: bytes))
    }

    public static func encodeFrame(opcode: UInt8, payload: [UInt8], fin: Bool = true, masked: Bool = true, rsv1: Bool = false) -> [UInt8] {
        var frame: [UInt8] = [(fin ? 0x80 : 0) | (rsv1 ? 0x40 : 0) | opcode]
        let maskBit: UInt8 = masked ? 0x80 : 0
        if payload.count <= 125 {
            frame.append(maskBit | UInt8(payload.count))
        } else if payload.count <= 0xFFFF {
            frame.append(maskBit | 126)
            frame += [UInt8(payload.count >> 8), UInt8(payload.count & 0xFF)]
        } else {
            frame.append(maskBit | 127)
            frame += (0..<8).reversed().map { UInt8((UInt64(payload.count) >> (UInt64($0) * 8)) & 0xFF) }
        }
        if masked {
            let mask = (0..<4).map { _ in UInt8.random(in: 0...255) }
            frame += mask
            frame += payload.enumerated().map { $0.element ^ mask[$0.offset % 4] }
        } else {
            frame += payload
        }
        return frame
    }

    // MARK: misbehaving

    /// Stops reading from the socket (the server's writes pile up in the kernel, then in the
    /// server) and stops answering pings: a frozen or slow peer.
    public func freeze() async throws {
        state.withLock { $0.autoPong = false }
        try await channel.setOption(ChannelOptions.autoRead, value: false).get()
    }

    /// Drops the TCP connection without a close frame.
    public func abort() async {
        try? await channel.close()
    }

    public func close() async {
        try? await channel.close()
    }

    // MARK: receiving

    /// The next event, in order.
    public func next(timeout: Duration = .seconds(10)) async throws -> Event {
        try await waitFor("the next event", timeout: timeout) { state in
            state.events.isEmpty ? nil : state.events.removeFirst()
        }
    }

    /// The next text message, parsed as a JSON object (pings and pongs are skipped).
    public func nextJSON(timeout: Duration = .seconds(10)) async throws -> [String: Any] {
        while true {
            switch try await next(timeout: timeout) {
            case .text(let text):
                guard let object = try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any] else {
                    throw Timeout(waitingFor: "a JSON object, got \(text)")
                }
                return object
            case .ping, .pong:
                continue
            case let other:
                throw Timeout(waitingFor: "a text message, got \(other)")
            }
        }
    }

    /// Skips events until one of `type` arrives (and returns it).
    public func nextEvent(ofType type: String, timeout: Duration = .seconds(10)) async throws -> [String: Any] {
        while true {
            let event = try await nextJSON(timeout: timeout)
            if event["type"] as? String == type { return event }
        }
    }

    /// Waits for the close frame (skipping messages); nil code if the TCP connection ended first.
    public func nextClose(timeout: Duration = .seconds(10)) async throws -> UInt16? {
        while true {
            switch try await next(timeout: timeout) {
            case .close(let code, _): return code
            case .disconnected: return nil
            default: continue
            }
        }
    }

    /// Waits until the TCP connection has ended.
    public func waitForDisconnect(timeout: Duration = .seconds(10)) async throws {
        _ = try await waitFor("the connection to close", timeout: timeout) { state in
            state.events.contains(.disconnected) ? true : nil
        }
    }

    public var receivedEvents: [Event] { state.withLock { $0.events } }

    /// A header of the upgrade response (name case-insensitive; repeated headers joined by ", ").
    public func responseHeader(_ name: String) -> String? {
        state.withLock { $0.responseHeaders[name.lowercased()] }
    }

    private func waitFor<T>(_ what: String, timeout: Duration, _ take: @escaping (inout ClientState.Values) -> T?) async throws -> T {
        let deadline = ContinuousClock.now + timeout
        while true {
            if let value = state.withLock(take) { return value }
            if ContinuousClock.now >= deadline { throw Timeout(waitingFor: what) }
            try await Task.sleep(for: .milliseconds(2))
        }
    }
}

final class ClientState: @unchecked Sendable {
    struct Values {
        var autoPong: Bool
        var closeSent = false
        var response: (status: Int, body: String)?
        var responseHeaders: [String: String] = [:]
        var events: [TestWebSocketClient.Event] = []
    }

    private let lock = NIOLock()
    private var values: Values

    init(autoPong: Bool) { values = Values(autoPong: autoPong) }

    func withLock<T>(_ body: (inout Values) -> T) -> T {
        lock.withLock { body(&values) }
    }
}

/// Parses the HTTP response, then server frames (unmasked), into `ClientState`.
final class ClientHandler: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer

    private let state: ClientState
    private var buffer = ByteBuffer()
    private var upgraded = false
    private var fragments: (opcode: UInt8, data: [UInt8], rsv1: Bool)?

    init(state: ClientState) { self.state = state }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var incoming = unwrapInboundIn(data)
        buffer.writeBuffer(&incoming)
        if !upgraded { parseResponse(context: context) }
        if upgraded { parseFrames(context: context) }
    }

    func channelInactive(context: ChannelHandlerContext) {
        state.withLock { state in
            if state.response == nil {
                state.response = (0, "connection closed before a response")
            }
            state.events.append(.disconnected)
        }
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        context.close(promise: nil)
    }

    private func parseResponse(context: ChannelHandlerContext) {
        let view = buffer.readableBytesView
        guard let end = view.firstRange(of: Array("\r\n\r\n".utf8)) else { return }
        let head = String(decoding: view[view.startIndex..<end.lowerBound], as: UTF8.self)
        let headerEnd = end.upperBound - view.startIndex
        let lines = head.components(separatedBy: "\r\n")
        let status = Int(lines.first?.split(separator: " ").dropFirst().first ?? "") ?? 0
        var contentLength = 0
        var headers: [String: String] = [:]
        for line in lines.dropFirst() {
            let parts = line.split(separator: ":", maxSplits: 1)
            guard parts.count == 2 else { continue }
            let name = parts[0].lowercased()
            let value = parts[1].trimmingCharacters(in: .whitespaces)
            headers[name] = headers[name].map { "\($0), \(value)" } ?? value
            if name == "content-length" {
                contentLength = Int(value) ?? 0
            }
        }
        if status == 101 {
            buffer.moveReaderIndex(forwardBy: headerEnd)
            upgraded = true
            state.withLock {
                $0.response = (101, "")
                $0.responseHeaders = headers
            }
            return
        }
        guard buffer.readableBytes >= headerEnd + contentLength else { return }
        buffer.moveReaderIndex(forwardBy: headerEnd)
        let body = buffer.readString(length: contentLength) ?? ""
        state.withLock { $0.response = (status, body) }
    }

    private func parseFrames(context: ChannelHandlerContext) {
        while true {
            let start = buffer.readerIndex
            guard let first = buffer.readInteger(as: UInt8.self), let second = buffer.readInteger(as: UInt8.self) else {
                buffer.moveReaderIndex(to: start)
                return
            }
            var length = Int(second & 0x7F)
            if length == 126 {
                guard let extended = buffer.readInteger(as: UInt16.self) else { buffer.moveReaderIndex(to: start); return }
                length = Int(extended)
            } else if length == 127 {
                guard let extended = buffer.readInteger(as: UInt64.self) else { buffer.moveReaderIndex(to: start); return }
                length = Int(extended)
            }
            guard let payload = buffer.readBytes(length: length) else {
                buffer.moveReaderIndex(to: start)
                return
            }
            handleFrame(context: context, fin: first & 0x80 != 0, rsv1: first & 0x40 != 0, opcode: first & 0x0F, payload: payload)
        }
    }

    private func handleFrame(context: ChannelHandlerContext, fin: Bool, rsv1: Bool, opcode: UInt8, payload: [UInt8]) {
        switch opcode {
        case 0x9:
            let autoPong = state.withLock { state in
                state.events.append(.ping(payload))
                return state.autoPong
            }
            if autoPong {
                let pong = TestWebSocketClient.encodeFrame(opcode: 0xA, payload: payload)
                context.writeAndFlush(NIOAny(ByteBuffer(bytes: pong)), promise: nil)
            }
        case 0xA:
            state.withLock { $0.events.append(.pong(payload)) }
        case 0x8:
            let code = payload.count >= 2 ? UInt16(payload[0]) << 8 | UInt16(payload[1]) : nil
            let reason = payload.count > 2 ? String(decoding: payload[2...], as: UTF8.self) : ""
            let reply = state.withLock { state -> Bool in
                state.events.append(.close(code: code, reason: reason))
                defer { state.closeSent = true }
                return state.autoPong && !state.closeSent
            }
            // Like a browser: answer the server's close frame (a frozen client does not).
            if reply {
                let echo = TestWebSocketClient.encodeFrame(opcode: 0x8, payload: Array(payload.prefix(2)))
                context.writeAndFlush(NIOAny(ByteBuffer(bytes: echo)), promise: nil)
            }
        case 0x0:
            guard var partial = fragments else { return }
            partial.data += payload
            if fin {
                fragments = nil
                deliver(opcode: partial.opcode, payload: partial.data, compressed: partial.rsv1)
            } else {
                fragments = partial
            }
        default:
            if fin { deliver(opcode: opcode, payload: payload, compressed: rsv1) } else { fragments = (opcode, payload, rsv1) }
        }
    }

    private func deliver(opcode: UInt8, payload: [UInt8], compressed: Bool = false) {
        let event: TestWebSocketClient.Event =
            compressed ? .compressed(opcode: opcode, payload: payload)
            : opcode == 0x1 ? .text(String(decoding: payload, as: UTF8.self)) : .binary(payload)
        state.withLock { $0.events.append(event) }
    }
}
