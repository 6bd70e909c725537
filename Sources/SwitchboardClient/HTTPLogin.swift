import Foundation
import NIOCore
import NIOHTTP1
import NIOPosix
import NIOSSL
import SwitchboardProtocol

/// `POST /login` over one short HTTP/1.1 connection on NIO: the only HTTP request the client
/// makes, so a full HTTP client library would be dead weight.
struct HTTPLogin: Sendable {
    struct Failure: Error, Equatable {
        var status: Int
        var body: String
    }

    let endpoint: ServerEndpoint
    let tls: TLSConfiguration?
    let timeout: Duration

    func login(username: String?, password: String?, bearerToken: String?) async throws -> LoginResponse {
        let body = try JSONEncoder().encode(LoginRequest(username: username, password: password))
        var headers = HTTPHeaders([
            ("Host", endpoint.hostHeader), ("Content-Type", "application/json"),
            ("Content-Length", String(body.count)), ("Connection", "close"),
        ])
        if let bearerToken { headers.add(name: "Authorization", value: "Bearer \(bearerToken)") }
        let (status, responseBody) = try await post(path: "/login", headers: headers, body: body)
        guard status == 200 else { throw Failure(status: status, body: String(decoding: responseBody, as: UTF8.self)) }
        return try JSONDecoder().decode(LoginResponse.self, from: responseBody)
    }

    private func post(path: String, headers: HTTPHeaders, body: Data) async throws -> (Int, Data) {
        let sslContext = try tls.map { try NIOSSLContext(configuration: $0) }
        let promise = MultiThreadedEventLoopGroup.singleton.any().makePromise(of: (Int, Data).self)
        let host = endpoint.host
        let channel: any Channel
        do {
            channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
                .connectTimeout(.nanoseconds(Int64(timeout.seconds * 1e9)))
                .channelInitializer { channel in
                    channel.eventLoop.makeCompletedFuture {
                        if let sslContext {
                            let handler = try NIOSSLClientHandler(context: sslContext, serverHostname: host.isIPAddress ? nil : host)
                            try channel.pipeline.syncOperations.addHandler(handler)
                        }
                        try channel.pipeline.syncOperations.addHTTPClientHandlers()
                        try channel.pipeline.syncOperations.addHandler(ResponseCollector(promise: promise))
                    }
                }
                .connect(host: host, port: endpoint.port).get()
        } catch {
            promise.fail(error)  // a promise must be completed, even one nobody waits for
            throw error
        }
        var head = HTTPRequestHead(version: .http1_1, method: .POST, uri: path)
        head.headers = headers
        channel.write(HTTPClientRequestPart.head(head), promise: nil)
        channel.write(HTTPClientRequestPart.body(.byteBuffer(ByteBuffer(bytes: body))), promise: nil)
        channel.writeAndFlush(HTTPClientRequestPart.end(nil), promise: nil)
        // The server answers promptly or not at all: bound the wait, then close.
        let deadline = channel.eventLoop.scheduleTask(in: .nanoseconds(Int64(timeout.seconds * 1e9))) {
            promise.fail(ChannelError.connectTimeout(.nanoseconds(Int64(timeout.seconds * 1e9))))
        }
        defer {
            deadline.cancel()
            channel.close(promise: nil)
        }
        // Cancelling the caller (the client's run task) must not wait out the timeout.
        return try await withTaskCancellationHandler {
            try await promise.futureResult.get()
        } onCancel: {
            promise.fail(CancellationError())
        }
    }

    private final class ResponseCollector: ChannelInboundHandler {
        typealias InboundIn = HTTPClientResponsePart
        let promise: EventLoopPromise<(Int, Data)>
        var status = 0
        var body = Data()

        init(promise: EventLoopPromise<(Int, Data)>) { self.promise = promise }

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            switch unwrapInboundIn(data) {
            case .head(let head): status = Int(head.status.code)
            case .body(let buffer): body.append(contentsOf: buffer.readableBytesView)
            case .end: promise.succeed((status, body))
            }
        }

        func channelInactive(context: ChannelHandlerContext) {
            promise.fail(ChannelError.eof)
        }

        func errorCaught(context: ChannelHandlerContext, error: any Error) {
            promise.fail(error)
            context.close(promise: nil)
        }
    }
}

extension String {
    var isIPAddress: Bool {
        (try? SocketAddress(ipAddress: self, port: 0)) != nil
    }
}
