#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Hummingbird
import Logging
import NIOCore
import ServiceLifecycle
import Switchboard
import SwitchboardChat

/// One room of `members` real WebSocket connections on a loopback Switchboard server, built
/// from public API only: a Hummingbird app with `.switchboard(...)` on port 0 (as
/// `Tests/SwitchboardTests/LibraryTestServer.swift` does), and `members` raw client sockets
/// that joined the room and then only read.
///
/// `broadcastAndDrain()` is what is measured: one `hub.broadcast(room:frame:)`, then a
/// blocking `read` of that frame's bytes from every client socket in turn, so it returns
/// once every member has the whole frame in its socket. The clients read into one
/// preallocated buffer and allocate nothing, so the malloc counts are the server's (and the
/// broadcast call's); the time includes the clients' `read` calls, on the same 2 cores.
final class FanOutBench: @unchecked Sendable {
    let members: Int
    let room = "bench"
    /// The frame that is broadcast: a `new_message` as SwitchboardChat builds it.
    let frame = ChatFrames.newMessage(Fixtures.storedMessage, allocator: ByteBufferAllocator())

    // Set in `start()`, used by `broadcastAndDrain()`, cleared in `stop()`; the benchmark
    // runner calls them one after another, never concurrently.
    private var hub: Hub?
    private var group: ServiceGroup?
    private var serverTask: Task<Void, any Error>?
    private var fds: [Int32] = []
    private let readBuffer = UnsafeMutableRawPointer.allocate(byteCount: 64 * 1024, alignment: 16)

    init(members: Int) {
        self.members = members
    }

    deinit { readBuffer.deallocate() }

    struct Failure: Error, CustomStringConvertible {
        var description: String
        init(_ description: String) { self.description = description }
    }

    // MARK: measured

    /// Broadcasts `frame` once and waits until every member's socket has received it.
    func broadcastAndDrain() throws {
        guard let hub else { throw Failure("fan-out server not started") }
        hub.broadcast(room: room, frame: frame)
        try drain(verify: false)
    }

    // MARK: setup / teardown

    func start() async throws {
        let logger = Logger(label: "switchboard.bench", factory: { _ in SwiftLogNoOpLogHandler() })
        let hub = Hub(logger: logger)
        var router = EventRouter()
        router.on("join", as: JoinRoomRequest.self, replying: { payload, context in
            // No ack: after the join a client gets nothing but the broadcasts.
            guard context.hub.join(context.connection, room: payload.room, knownSeq: 0) != nil else { return .replied }
            context.hub.completeJoin(context.connection, room: payload.room, reply: nil)
            return .replied
        })
        var configuration = SwitchboardServerConfiguration()
        // No pings during the run: the clients must receive only the broadcasts.
        configuration.connection.pingInterval = .hours(1)
        let (ports, portContinuation) = AsyncStream<Int>.makeStream()
        let app = Application(
            router: Router(),
            server: .switchboard(hub: hub, router: router, configuration: configuration) { request, _ in
                let target = request.path ?? ""
                guard target.hasPrefix("/ws?user=") else { return .reject(.forbidden, "not here") }
                return .accept(user: String(target.dropFirst("/ws?user=".count)))
            },
            configuration: .init(address: .hostname("127.0.0.1", port: 0)),
            onServerRunning: { channel in portContinuation.yield(channel.localAddress?.port ?? 0) },
            logger: logger
        )
        let group = ServiceGroup(configuration: .init(services: [hub, app], logger: logger))
        self.hub = hub
        self.group = group
        serverTask = Task { try await group.run() }

        var iterator = ports.makeAsyncIterator()
        guard let port = await iterator.next(), port > 0 else { throw Failure("server did not start") }
        for index in 0..<members {
            fds.append(try Self.openClient(port: port, user: "u\(index)", room: room))
        }
        // Wait until every client is in the room.
        let deadline = ContinuousClock.now + .seconds(60)
        while hub.members(of: room).count < members {
            guard ContinuousClock.now < deadline else {
                throw Failure("only \(hub.members(of: room).count) of \(members) joined")
            }
            try await Task.sleep(for: .milliseconds(10))
        }
        // One delivery outside the measurement, checking the bytes that arrive.
        hub.broadcast(room: room, frame: frame)
        try drain(verify: true)
    }

    func stop() async {
        for fd in fds { close(fd) }
        fds = []
        await group?.triggerGracefulShutdown()
        _ = try? await serverTask?.value
        hub = nil
        group = nil
        serverTask = nil
    }

    // MARK: clients

    /// Reads exactly one frame's bytes from every client socket, in turn.
    private func drain(verify: Bool) throws {
        let expected = frame.bytes.readableBytes
        precondition(expected <= 64 * 1024)
        for fd in fds {
            var got = 0
            while got < expected {
                let count = read(fd, readBuffer + got, expected - got)
                if count > 0 {
                    got += count
                } else if count < 0, errno == EINTR {
                    continue
                } else {
                    throw Failure("client read failed (\(count), errno \(errno)) after \(got) of \(expected) bytes")
                }
            }
            if verify {
                let received = UnsafeRawBufferPointer(start: readBuffer, count: expected)
                guard frame.bytes.readableBytesView.elementsEqual(received) else {
                    throw Failure("a client received other bytes than the frame")
                }
            }
        }
    }

    /// A blocking client socket that completed the WebSocket handshake as `user` and sent
    /// a masked `join` event for `room`.
    private static func openClient(port: Int, user: String, room: String) throws -> Int32 {
        #if canImport(Glibc)
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        #else
        let fd = socket(AF_INET, SOCK_STREAM, 0)
        #endif
        guard fd >= 0 else { throw Failure("socket() failed, errno \(errno)") }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        guard connected == 0 else {
            close(fd)
            throw Failure("connect() failed, errno \(errno)")
        }
        // A hung delivery fails the benchmark instead of hanging it.
        var timeout = timeval(tv_sec: 10, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))

        let request = "GET /ws?user=\(user) HTTP/1.1\r\nHost: 127.0.0.1:\(port)\r\nUpgrade: websocket\r\n"
            + "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
        try writeAll(fd, Array(request.utf8))
        // The response head, byte by byte so nothing after it is consumed.
        var head: [UInt8] = []
        var byte: UInt8 = 0
        while !head.ends(with: [13, 10, 13, 10]) {
            guard read(fd, &byte, 1) == 1 else { throw Failure("handshake: connection closed") }
            head.append(byte)
        }
        guard head.starts(with: Array("HTTP/1.1 101".utf8)) else {
            throw Failure("handshake refused: \(String(decoding: head, as: UTF8.self))")
        }
        try writeAll(fd, maskedTextFrame(#"{"type":"join","payload":{"room":"\#(room)"}}"#))
        return fd
    }

    private static func maskedTextFrame(_ text: String) -> [UInt8] {
        let payload = Array(text.utf8)
        precondition(payload.count <= 125)
        let mask: [UInt8] = [0x11, 0x22, 0x33, 0x44]
        var frame: [UInt8] = [0x81, 0x80 | UInt8(payload.count)] + mask
        for (index, byte) in payload.enumerated() { frame.append(byte ^ mask[index % 4]) }
        return frame
    }

    private static func writeAll(_ fd: Int32, _ bytes: [UInt8]) throws {
        var offset = 0
        while offset < bytes.count {
            let written = bytes[offset...].withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
            guard written > 0 else { throw Failure("write failed, errno \(errno)") }
            offset += written
        }
    }
}

extension Array where Element: Equatable {
    fileprivate func ends(with suffix: [Element]) -> Bool {
        count >= suffix.count && Array(self[(count - suffix.count)...]) == suffix
    }
}
