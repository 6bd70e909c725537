import HTTPTypes
import NIOCore

/// Plain HTTP routes answered on the connection's event loop, before Hummingbird's router and
/// with no Swift task: for requests whose answer needs no I/O, such as a login checked
/// against tickets in memory. A login through Hummingbird's router cost 29 µs of server CPU
/// against 6 µs for the same request on NIO's own handlers (BENCHMARKS.md, ninth session):
/// the request's trip through an async sequence to the connection's task, the responder
/// chain and the trip back. Every connect of a chat client starts with one.
///
/// A handler may decline (return nil), and the request goes to the router after all; so may
/// the channel: a body larger than the route allows, a request with `Expect`, and any
/// request that arrives while the router still owes an earlier one its response (pipelined
/// requests are answered in order) go to the router. Register the same route there.
///
/// Responses get `Content-Length` and `Date`; anything else (security headers, caching) is
/// the handler's to add, as the router's middleware would have.
public struct EventLoopRoutes: Sendable {
    /// A request's head, its whole body and its channel; nil declines it.
    public typealias Handler = @Sendable (HTTPRequest, ByteBuffer, any Channel) -> Response?

    public struct Response: Sendable {
        public var status: HTTPResponse.Status
        public var headerFields: HTTPFields
        public var body: ByteBuffer

        public init(status: HTTPResponse.Status, headerFields: HTTPFields = [:], body: ByteBuffer = ByteBuffer()) {
            self.status = status
            self.headerFields = headerFields
            self.body = body
        }
    }

    struct Route: Sendable {
        let maxBodySize: Int
        let handler: Handler
    }

    struct Key: Hashable, Sendable {
        let method: HTTPRequest.Method
        let path: String
    }

    private var routes: [Key: Route] = [:]

    public init() {}

    /// Answers `method` `path` (the query string is ignored) with `handler`. A body larger
    /// than `maxBodySize` bytes goes to the router, which then answers it as too large.
    public mutating func add(_ method: HTTPRequest.Method, _ path: String, maxBodySize: Int = 16 * 1024, handler: @escaping Handler) {
        routes[Key(method: method, path: path)] = Route(maxBodySize: maxBodySize, handler: handler)
    }

    public var isEmpty: Bool { routes.isEmpty }

    /// The route for `request`, if it has one and nothing about it needs the router.
    func route(for request: HTTPRequest) -> Route? {
        guard !routes.isEmpty, request.headerFields[.expect] == nil else { return nil }
        let target = request.path ?? ""
        let path = target.firstIndex(of: "?").map { String(target[..<$0]) } ?? target
        return routes[Key(method: request.method, path: path)]
    }
}
