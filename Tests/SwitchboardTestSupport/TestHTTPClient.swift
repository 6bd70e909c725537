import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import NIOSSL

/// A minimal HTTP/1.1 client for tests: one request per connection (`Connection: close`),
/// the whole response read until the server closes.
public enum TestHTTPClient {
    public struct Response: Sendable {
        public var status: Int
        public var headers: [(String, String)]
        public var body: String

        public func header(_ name: String) -> String? {
            headers.first { $0.0.lowercased() == name.lowercased() }?.1
        }
    }

    public static func request(
        _ method: String, port: Int, path: String, headers: [(String, String)] = [], body: String? = nil,
        tls: NIOSSLContext? = nil
    ) async throws -> Response {
        let collected = NIOLockedValueBox(ByteBuffer())
        let done = TestWebSocketClient.group.next().makePromise(of: Void.self)
        let channel = try await ClientBootstrap(group: TestWebSocketClient.group).channelInitializer { channel in
            channel.eventLoop.makeCompletedFuture {
                if let tls {
                    try channel.pipeline.syncOperations.addHandler(try NIOSSLClientHandler(context: tls, serverHostname: nil))
                }
                try channel.pipeline.syncOperations.addHandler(Collector(collected: collected, done: done))
            }
        }.connect(host: "127.0.0.1", port: port).get()
        var request = "\(method) \(path) HTTP/1.1\r\nHost: 127.0.0.1:\(port)\r\nConnection: close\r\n"
        for (name, value) in headers { request += "\(name): \(value)\r\n" }
        if let body {
            request += "Content-Type: application/json\r\nContent-Length: \(body.utf8.count)\r\n\r\n\(body)"
        } else {
            request += "\r\n"
        }
        try await channel.writeAndFlush(ByteBuffer(string: request))
        try await done.futureResult.get()
        let raw = collected.withLockedValue { String(buffer: $0) }
        guard let split = raw.range(of: "\r\n\r\n") else { return Response(status: 0, headers: [], body: raw) }
        let lines = raw[..<split.lowerBound].components(separatedBy: "\r\n")
        let status = Int(lines.first?.split(separator: " ").dropFirst().first ?? "") ?? 0
        let headerPairs = lines.dropFirst().compactMap { line -> (String, String)? in
            let parts = line.split(separator: ":", maxSplits: 1)
            guard parts.count == 2 else { return nil }
            return (String(parts[0]), parts[1].trimmingCharacters(in: .whitespaces))
        }
        var body = String(raw[split.upperBound...])
        if headerPairs.contains(where: { $0.0.lowercased() == "transfer-encoding" && $0.1.lowercased() == "chunked" }) {
            body = dechunk(body)
        }
        return Response(status: status, headers: headerPairs, body: body)
    }

    /// Sends `raw` as it is (several pipelined requests, say) and returns everything the
    /// server writes until it closes the connection.
    public static func exchange(port: Int, raw: String) async throws -> String {
        let collected = NIOLockedValueBox(ByteBuffer())
        let done = TestWebSocketClient.group.next().makePromise(of: Void.self)
        let channel = try await ClientBootstrap(group: TestWebSocketClient.group).channelInitializer { channel in
            channel.eventLoop.makeCompletedFuture {
                try channel.pipeline.syncOperations.addHandler(Collector(collected: collected, done: done))
            }
        }.connect(host: "127.0.0.1", port: port).get()
        try await channel.writeAndFlush(ByteBuffer(string: raw))
        try await done.futureResult.get()
        return collected.withLockedValue { String(buffer: $0) }
    }

    static func dechunk(_ text: String) -> String {
        var rest = Substring(text)
        var out = ""
        while let lineEnd = rest.range(of: "\r\n") {
            guard let size = Int(rest[..<lineEnd.lowerBound], radix: 16), size > 0 else { break }
            let start = lineEnd.upperBound
            let utf8 = rest[start...].utf8
            let end = utf8.index(utf8.startIndex, offsetBy: size)
            out += String(rest[start..<end])
            rest = rest[end...].dropFirst(2)
        }
        return out
    }

    final class Collector: ChannelInboundHandler {
        typealias InboundIn = ByteBuffer
        let collected: NIOLockedValueBox<ByteBuffer>
        let done: EventLoopPromise<Void>

        init(collected: NIOLockedValueBox<ByteBuffer>, done: EventLoopPromise<Void>) {
            self.collected = collected
            self.done = done
        }

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            var buffer = unwrapInboundIn(data)
            collected.withLockedValue { $0.writeBuffer(&buffer) }
        }

        func channelInactive(context: ChannelHandlerContext) { done.succeed() }

        func errorCaught(context: ChannelHandlerContext, error: any Error) {
            // A TLS close without close_notify still ends the response.
            context.close(promise: nil)
        }
    }
}

import Foundation
