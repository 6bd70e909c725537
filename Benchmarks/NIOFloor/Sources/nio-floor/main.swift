import NIOCore
import NIOHTTP1
import NIOPosix
import NIOWebSocket

// Everything a bench client needs and nothing more: no ticket check, no rooms, no presence,
// no history. What this costs per connect and per idle connection is NIO's share of
// Switchboard's figures, and a lower bound for any server built on NIO's channels.

/// `POST /login` → a fresh ticket (not remembered: `/ws` accepts any).
final class LoginHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    private var keepAlive = true
    private var counter: UInt64 = 0

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let head):
            keepAlive = head.isKeepAlive
        case .body:
            break
        case .end:
            counter &+= 1
            var body = context.channel.allocator.buffer(capacity: 80)
            body.writeString(#"{"ticket":""#)
            body.writeString(String(counter, radix: 16))
            body.writeString(#"","expires_in":30}"#)
            var headers = HTTPHeaders()
            headers.add(name: "Content-Type", value: "application/json")
            headers.add(name: "Content-Length", value: String(body.readableBytes))
            let head = HTTPResponseHead(version: .http1_1, status: .ok, headers: headers)
            context.write(wrapOutboundOut(.head(head)), promise: nil)
            context.write(wrapOutboundOut(.body(.byteBuffer(body))), promise: nil)
            let keepAlive = self.keepAlive
            context.writeAndFlush(wrapOutboundOut(.end(nil))).whenComplete { _ in
                if !keepAlive { context.close(promise: nil) }
            }
        }
    }
}

/// Answers each `join_room` with an ack carrying its id; nothing else is read.
final class JoinAckHandler: ChannelInboundHandler {
    typealias InboundIn = WebSocketFrame
    typealias OutboundOut = WebSocketFrame

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let frame = unwrapInboundIn(data)
        switch frame.opcode {
        case .text:
            let bytes = Array(frame.unmaskedData.readableBytesView)
            let key = Array(#""id":"#.utf8)
            guard bytes.count > key.count, let keyAt = (0...(bytes.count - key.count)).first(where: { bytes[$0..<$0 + key.count].elementsEqual(key) }),
                let idEnd = bytes[(keyAt + key.count)...].firstIndex(where: { $0 == UInt8(ascii: ",") || $0 == UInt8(ascii: "}") })
            else { return }
            var ack = context.channel.allocator.buffer(capacity: 64)
            ack.writeString(#"{"type":"ack","id":"#)
            ack.writeBytes(bytes[(keyAt + key.count)..<idEnd])
            ack.writeString(#","payload":{"room":"r0","seq":0}}"#)
            context.writeAndFlush(wrapOutboundOut(WebSocketFrame(fin: true, opcode: .text, data: ack)), promise: nil)
        case .connectionClose:
            context.close(promise: nil)
        case .ping:
            context.writeAndFlush(wrapOutboundOut(WebSocketFrame(fin: true, opcode: .pong, data: frame.unmaskedData)), promise: nil)
        default:
            break
        }
    }
}

let port = Int(CommandLine.arguments.dropFirst().first ?? "") ?? 9100
/// Read buffer size: NIO's default starts each channel at 2 KiB and keeps that buffer while
/// the channel lives; Switchboard starts at 256 bytes (`SwitchboardServerConfiguration`).
let readBufferSize = Int(CommandLine.arguments.dropFirst(2).first ?? "") ?? 2048
let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
let upgrader = NIOWebSocketServerUpgrader(
    shouldUpgrade: { channel, head in
        channel.eventLoop.makeSucceededFuture(head.uri.hasPrefix("/ws?ticket=") ? HTTPHeaders() : nil)
    },
    upgradePipelineHandler: { channel, _ in
        channel.eventLoop.makeCompletedFuture {
            try channel.pipeline.syncOperations.addHandler(JoinAckHandler())
        }
    }
)
let bootstrap = ServerBootstrap(group: group)
    .serverChannelOption(.backlog, value: 4096)
    .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
    .childChannelOption(
        .recvAllocator,
        value: AdaptiveRecvByteBufferAllocator(minimum: min(64, readBufferSize), initial: readBufferSize, maximum: 65536)
    )
    .childChannelInitializer { channel in
        channel.eventLoop.makeCompletedFuture {
            try channel.pipeline.syncOperations.configureHTTPServerPipeline(
                withServerUpgrade: (
                    upgraders: [upgrader],
                    completionHandler: { context in
                        _ = context.pipeline.removeHandler(name: "login")
                    }
                )
            )
            try channel.pipeline.syncOperations.addHandler(LoginHandler(), name: "login")
        }
    }
let server = try bootstrap.bind(host: "127.0.0.1", port: port).wait()
print("nio-floor listening on 127.0.0.1:\(port)")
try server.closeFuture.wait()
