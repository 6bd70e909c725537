import Foundation
import NIOCore

/// Reads HTTP/1.1 responses on a keep-alive connection, one request at a time: enough HTTP
/// for `POST /login` (Content-Length or chunked bodies, or a body that ends with the
/// connection). It only runs on its channel's event loop (`@unchecked Sendable`); `send`
/// hops there.
final class HTTPResponseReader: ChannelInboundHandler, @unchecked Sendable {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    struct Response: Sendable {
        var status: Int
        var body: [UInt8]
        /// The server will close the connection after this response.
        var closes: Bool
    }

    private var buffer = ByteBuffer()
    private var pending: EventLoopPromise<Response>?
    private var head: (status: Int, contentLength: Int?, chunked: Bool, closes: Bool)?
    /// Why the connection failed (a TLS handshake error, say), for the failed login's report.
    private var failure: (any Error)?

    /// Writes `request` and completes with its response (fails after 10 s or on close).
    func send(_ request: ByteBuffer, on channel: any Channel) -> EventLoopFuture<Response> {
        channel.eventLoop.flatSubmit { [self] in
            guard pending == nil, channel.isActive else {
                return channel.eventLoop.makeFailedFuture(failure ?? BenchClientError("connection closed"))
            }
            let promise = channel.eventLoop.makePromise(of: Response.self)
            pending = promise
            channel.writeAndFlush(request, promise: nil)
            channel.eventLoop.scheduleTask(in: .seconds(10)) { [self] in
                if let waiting = pending, waiting.futureResult === promise.futureResult {
                    pending = nil
                    waiting.fail(BenchClientError("no answer within 10s"))
                    channel.close(promise: nil)
                }
            }
            return promise.futureResult
        }
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var incoming = unwrapInboundIn(data)
        buffer.writeBuffer(&incoming)
        parse()
    }

    func channelInactive(context: ChannelHandlerContext) {
        if let promise = pending {
            pending = nil
            if let head, head.contentLength == nil, !head.chunked {
                promise.succeed(Response(status: head.status, body: buffer.readBytes(length: buffer.readableBytes) ?? [], closes: true))
            } else {
                promise.fail(failure ?? BenchClientError("connection closed"))
            }
        }
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        if failure == nil { failure = error }
        context.close(promise: nil)
    }

    private func parse() {
        if head == nil {
            guard let headEnd = buffer.readableBytesView.firstRange(of: [0x0D, 0x0A, 0x0D, 0x0A]) else { return }
            let length = headEnd.upperBound - buffer.readerIndex
            let text = buffer.readString(length: length) ?? ""
            var lines = text.split(separator: "\r\n")
            let statusLine = lines.isEmpty ? "" : lines.removeFirst()
            let status = statusLine.split(separator: " ").dropFirst().first.flatMap { Int($0) } ?? 0
            var contentLength: Int?
            var chunked = false
            var closes = statusLine.hasPrefix("HTTP/1.0")
            for line in lines {
                guard let colon = line.firstIndex(of: ":") else { continue }
                let name = line[..<colon].lowercased()
                let value = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces).lowercased()
                switch name {
                case "content-length": contentLength = Int(value)
                case "transfer-encoding": chunked = value.contains("chunked")
                case "connection": closes = value.contains("close")
                default: break
                }
            }
            head = (status, contentLength, chunked, closes)
        }
        guard let current = head else { return }
        var body: [UInt8]
        if current.chunked {
            guard let decoded = readChunkedBody() else { return }
            body = decoded
        } else if let length = current.contentLength {
            guard buffer.readableBytes >= length else { return }
            body = buffer.readBytes(length: length) ?? []
        } else {
            return  // the body ends with the connection: channelInactive delivers it
        }
        head = nil
        buffer.discardReadBytes()
        if let promise = pending {
            pending = nil
            promise.succeed(Response(status: current.status, body: body, closes: current.closes))
        }
    }

    /// The whole chunked body if it has arrived (consuming it), else nil (consuming nothing).
    private func readChunkedBody() -> [UInt8]? {
        var view = buffer
        var body: [UInt8] = []
        while true {
            guard let lineEnd = view.readableBytesView.firstRange(of: [0x0D, 0x0A]) else { return nil }
            let sizeLine = view.readString(length: lineEnd.lowerBound - view.readerIndex) ?? ""
            view.moveReaderIndex(forwardBy: 2)
            guard let size = Int(sizeLine.split(separator: ";").first ?? "", radix: 16) else { return nil }
            if size == 0 {
                // Trailers (none expected) end with an empty line.
                guard let end = view.readableBytesView.firstRange(of: [0x0D, 0x0A]) else { return nil }
                view.moveReaderIndex(to: end.upperBound)
                buffer = view
                return body
            }
            guard view.readableBytes >= size + 2, let chunk = view.readBytes(length: size) else { return nil }
            body += chunk
            view.moveReaderIndex(forwardBy: 2)
        }
    }
}
