import HTTPTypes
import NIOCore
import NIOHTTPTypes
@testable import Switchboard
import Testing

/// The rules of `EventLoopRouteStateMachine`, with no sockets: what is answered here, what
/// goes to the router, and that responses keep their requests' order.
@Suite("Event-loop route state machine")
struct EventLoopRouteStateMachineUnitTests {
    static let routes: EventLoopRoutes = {
        var routes = EventLoopRoutes()
        routes.add(.post, "/login", maxBodySize: 8) { _, _, _ in .init(status: .ok) }
        return routes
    }()

    static func head(_ method: HTTPRequest.Method = .post, _ path: String = "/login", _ fields: HTTPFields = [:]) -> HTTPRequestPart {
        .head(HTTPRequest(method: method, scheme: nil, authority: nil, path: path, headerFields: fields))
    }

    static func body(_ text: String) -> HTTPRequestPart { .body(ByteBuffer(string: text)) }

    enum Seen: Equatable {
        case pass, hold, answer(String), passHeld([String])
    }

    static func describe(_ action: EventLoopRouteStateMachine.ReadAction) -> Seen {
        func describe(_ part: HTTPRequestPart) -> String {
            switch part {
            case .head(let head): return "head \(head.path ?? "")"
            case .body(let body): return "body \(String(buffer: body))"
            case .end(let trailers): return trailers == nil ? "end" : "end with trailers"
            }
        }
        switch action {
        case .pass: return .pass
        case .hold: return .hold
        case .answer(_, let body, _): return .answer(String(buffer: body))
        case .passHeld(let parts): return .passHeld(parts.map(describe))
        }
    }

    @Test("a routed request is held until its end and then answered, its body gathered from every part; the query is ignored")
    func routedRequest() {
        var machine = EventLoopRouteStateMachine()
        #expect(Self.describe(machine.read(Self.head(.post, "/login?from=page"), routes: Self.routes)) == .hold)
        #expect(Self.describe(machine.read(Self.body("{\"u\""), routes: Self.routes)) == .hold)
        #expect(Self.describe(machine.read(Self.body(":1}"), routes: Self.routes)) == .hold)
        #expect(Self.describe(machine.read(.end(nil), routes: Self.routes)) == .answer("{\"u\":1}"))
        #expect(machine.routerOwes == 0)
    }

    @Test("other paths, other methods and requests with Expect go to the router, whole")
    func unroutedRequests() {
        for head in [Self.head(.post, "/other"), Self.head(.get, "/login"), Self.head(.post, "/login", [.expect: "100-continue"])] {
            var machine = EventLoopRouteStateMachine()
            #expect(Self.describe(machine.read(head, routes: Self.routes)) == .pass)
            #expect(Self.describe(machine.read(Self.body("x"), routes: Self.routes)) == .pass)
            #expect(Self.describe(machine.read(.end(nil), routes: Self.routes)) == .pass)
            #expect(machine.routerOwes == 1)
        }
    }

    @Test("while the router owes a response, a routed request goes to the router behind it; once answered, routed requests are answered here again")
    func orderIsKept() {
        var machine = EventLoopRouteStateMachine()
        #expect(Self.describe(machine.read(Self.head(.get, "/slow"), routes: Self.routes)) == .pass)
        #expect(Self.describe(machine.read(.end(nil), routes: Self.routes)) == .pass)
        #expect(Self.describe(machine.read(Self.head(), routes: Self.routes)) == .pass)
        #expect(Self.describe(machine.read(.end(nil), routes: Self.routes)) == .pass)
        #expect(machine.routerOwes == 2)
        machine.routerResponseEnded()
        #expect(Self.describe(machine.read(Self.head(), routes: Self.routes)) == .pass)
        #expect(Self.describe(machine.read(.end(nil), routes: Self.routes)) == .pass)
        machine.routerResponseEnded()
        machine.routerResponseEnded()
        #expect(machine.routerOwes == 0)
        #expect(Self.describe(machine.read(Self.head(), routes: Self.routes)) == .hold)
        #expect(Self.describe(machine.read(.end(nil), routes: Self.routes)) == .answer(""))
    }

    @Test("a body over the route's limit sends what was held to the router, and the rest follows it")
    func oversizeBody() {
        var machine = EventLoopRouteStateMachine()
        #expect(Self.describe(machine.read(Self.head(), routes: Self.routes)) == .hold)
        #expect(Self.describe(machine.read(Self.body("12345"), routes: Self.routes)) == .hold)
        #expect(Self.describe(machine.read(Self.body("6789"), routes: Self.routes)) == .passHeld(["head /login", "body 12345", "body 6789"]))
        #expect(Self.describe(machine.read(Self.body("more"), routes: Self.routes)) == .pass)
        #expect(Self.describe(machine.read(.end(nil), routes: Self.routes)) == .pass)
        #expect(machine.routerOwes == 1)
    }

    @Test("a declined request and one with trailers go to the router, whole")
    func declinedAndTrailers() {
        var machine = EventLoopRouteStateMachine()
        #expect(Self.describe(machine.read(Self.head(), routes: Self.routes)) == .hold)
        guard case .answer(let head, let body, _) = machine.read(.end(nil), routes: Self.routes) else {
            Issue.record("not answered")
            return
        }
        #expect(machine.declined(head, body: body).count == 2)  // head and end: the empty body is left out
        #expect(machine.routerOwes == 1)
        machine.routerResponseEnded()
        #expect(Self.describe(machine.read(Self.head(), routes: Self.routes)) == .hold)
        #expect(Self.describe(machine.read(Self.body("b"), routes: Self.routes)) == .hold)
        #expect(Self.describe(machine.read(.end([HTTPField.Name("X-Checksum")!: "x"]), routes: Self.routes)) == .passHeld(["head /login", "body b", "end with trailers"]))
        #expect(machine.routerOwes == 1)
    }

    @Test("no routes: every request passes")
    func noRoutes() {
        var machine = EventLoopRouteStateMachine()
        #expect(Self.describe(machine.read(Self.head(), routes: EventLoopRoutes())) == .pass)
    }
}
