import HTTPTypes
import NIOCore
import NIOHTTPTypes

/// Answers `EventLoopRoutes` on the event loop and passes every other request on to the
/// router. It sits after Hummingbird's `HTTPConnectionStateHandler`, so the requests it
/// answers count for the idle timeout and for closing after a graceful shutdown like any
/// other, and before the router's async channel, so the router's responses pass through it
/// (which is how it knows when the router has answered).
final class EventLoopRouteHandler: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPRequestPart
    typealias InboundOut = HTTPRequestPart
    typealias OutboundIn = HTTPResponsePart
    typealias OutboundOut = HTTPResponsePart

    private let routes: EventLoopRoutes
    private var state = EventLoopRouteStateMachine()

    init(routes: EventLoopRoutes) {
        self.routes = routes
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch state.read(unwrapInboundIn(data), routes: routes) {
        case .pass:
            context.fireChannelRead(data)
        case .hold:
            break
        case .passHeld(let parts):
            for part in parts { context.fireChannelRead(wrapInboundOut(part)) }
        case .answer(let head, let body, let route):
            guard let response = route.handler(head, body, context.channel) else {
                for part in state.declined(head, body: body) { context.fireChannelRead(wrapInboundOut(part)) }
                return
            }
            write(response, to: head, context: context)
        }
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        if case .end = unwrapOutboundIn(data) { state.routerResponseEnded() }
        context.write(data, promise: promise)
    }

    private func write(_ response: EventLoopRoutes.Response, to request: HTTPRequest, context: ChannelHandlerContext) {
        var fields = response.headerFields
        fields[.contentLength] = String(response.body.readableBytes)
        fields[.date] = HTTPDate.now
        // As Hummingbird does: a client that asked to close gets its answer, then the close.
        let closing = request.headerFields[.connection]?.lowercased() == "close"
        if closing { fields[.connection] = "close" }
        context.write(wrapOutboundOut(.head(HTTPResponse(status: response.status, headerFields: fields))), promise: nil)
        if response.body.readableBytes > 0 {
            context.write(wrapOutboundOut(.body(response.body)), promise: nil)
        }
        if closing {
            context.writeAndFlush(wrapOutboundOut(.end(nil))).assumeIsolated().whenComplete { _ in
                context.close(promise: nil)
            }
        } else {
            context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: nil)
        }
    }
}
