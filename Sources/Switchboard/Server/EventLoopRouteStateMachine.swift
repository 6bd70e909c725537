import HTTPTypes
import NIOCore
import NIOHTTPTypes

/// Which requests of an HTTP connection `EventLoopRouteHandler` answers itself and which it
/// passes on to the router, as a value: parts in, what to do with them out.
///
/// The one rule beyond matching a route: responses go out in the order their requests came
/// in. While the router owes any earlier request its response, every request goes to the
/// router, behind it; a response the handler wrote ahead of it would answer the wrong
/// request on a pipelined connection.
struct EventLoopRouteStateMachine {
    private enum State {
        case idle
        /// A routed request's head and the body so far, held until its end.
        case collecting(HTTPRequest, EventLoopRoutes.Route, ByteBuffer)
        /// The current request goes to the router, part by part, until its end.
        case passing
    }

    enum ReadAction {
        /// Hand this part on to the router.
        case pass
        /// Held here until the request is complete.
        case hold
        /// The request is complete: ask its route for the answer (and call `declined` if it
        /// has none).
        case answer(HTTPRequest, ByteBuffer, EventLoopRoutes.Route)
        /// Hand these parts on to the router instead of the one that arrived (they include it).
        case passHeld([HTTPRequestPart])
    }

    private var state = State.idle
    /// Requests handed to the router whose response has not ended yet.
    private(set) var routerOwes = 0

    mutating func read(_ part: HTTPRequestPart, routes: EventLoopRoutes) -> ReadAction {
        switch (part, state) {
        case (.head(let head), _):
            if routerOwes == 0, let route = routes.route(for: head) {
                state = .collecting(head, route, ByteBuffer())
                return .hold
            }
            routerOwes += 1
            state = .passing
            return .pass
        case (.body(var chunk), .collecting(let head, let route, var body)):
            if body.readableBytes + chunk.readableBytes > route.maxBodySize {
                routerOwes += 1
                state = .passing
                return .passHeld([.head(head), .body(body), .body(chunk)].filter(Self.isNotEmptyBody))
            }
            if body.readableBytes == 0 {
                body = chunk
            } else {
                body.writeBuffer(&chunk)
            }
            state = .collecting(head, route, body)
            return .hold
        case (.end(let trailers), .collecting(let head, let route, let body)):
            state = .idle
            guard trailers == nil else {
                // Trailers are rare enough not to answer here, and the router sees them.
                routerOwes += 1
                return .passHeld([.head(head), .body(body), .end(trailers)].filter(Self.isNotEmptyBody))
            }
            return .answer(head, body, route)
        case (.end, _):
            state = .idle
            return .pass
        case (.body, _):
            return .pass
        }
    }

    /// The route had no answer for this request: it goes to the router after all.
    mutating func declined(_ head: HTTPRequest, body: ByteBuffer) -> [HTTPRequestPart] {
        routerOwes += 1
        return [.head(head), .body(body), .end(nil)].filter(Self.isNotEmptyBody)
    }

    /// The router's response to one request has ended.
    mutating func routerResponseEnded() {
        routerOwes = max(0, routerOwes - 1)
    }

    private static func isNotEmptyBody(_ part: HTTPRequestPart) -> Bool {
        if case .body(let body) = part { return body.readableBytes > 0 }
        return true
    }
}
