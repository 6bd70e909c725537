import Foundation
import Hummingbird
import Logging
import Prometheus
import Switchboard
import NIOCore

/// The HTTP side: `POST /login`, `/healthz`, `/metrics` and the page.
struct HTTPRoutes: Sendable {
    let authenticator: any Authenticator
    let tickets: any TicketIssuer
    let state: ChatState
    /// False while a cluster node cannot reach its database (`/healthz` 503).
    let storageReachable: @Sendable () -> Bool
    let publicDirectory: String
    let loginLimiter: LoginRateLimiter
    let logger: Logger

    func router() -> Router<ChatRequestContext> {
        let router = Router(context: ChatRequestContext.self)
        router.add(middleware: SecurityHeadersMiddleware())
        router.add(middleware: FileMiddleware(publicDirectory, searchForIndexHtml: true, logger: logger))
        router.post("/login") { request, context -> Response in
            try await login(request, context: context)
        }
        router.get("/healthz") { _, _ -> Response in
            if state.isDraining { return Self.json(.serviceUnavailable, #"{"status":"draining"}"#) }
            if !storageReachable() { return Self.json(.serviceUnavailable, #"{"status":"storage unreachable"}"#) }
            return Self.json(.ok, #"{"status":"ok"}"#)
        }
        router.get("/metrics") { _, _ -> Response in
            Response(
                status: .ok,
                headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8"],
                body: .init(byteBuffer: ByteBuffer(bytes: ChatMetrics.registry.emitToBuffer()))
            )
        }
        return router
    }

    /// The largest login body read; a larger one gets 413.
    static let maxLoginBody = 16 * 1024

    private func login(_ request: Request, context: ChatRequestContext) async throws -> Response {
        let address = context.remoteAddress?.ipAddress ?? "unknown"
        let reserved = authenticator.checksSecrets
        if let refusal = admitLogin(from: address, reservingFailure: reserved) { return Response(refusal) }
        let body: ByteBuffer
        do {
            body = try await request.body.collect(upTo: Self.maxLoginBody)
        } catch {
            return Response(Self.reply(.contentTooLarge, error: "body too large"))
        }
        let credentials: LoginCredentials
        switch Self.credentials(body: body, headers: request.headers) {
        case .success(let read): credentials = read
        case .failure(let refusal): return Response(refusal.reply)
        }
        let user = await authenticator.authenticate(
            username: credentials.username, password: credentials.password, bearerToken: credentials.bearer
        )
        settleAttempt(from: address, user: user, reservedFailure: reserved)
        guard let user else { return Response(Self.reply(.unauthorized, error: "invalid username or password")) }
        let ticket: String
        do {
            ticket = try await tickets.issue(for: user)
        } catch {
            logger.warning("could not issue a ticket", metadata: ["error": "\(error)"])
            return Response(Self.reply(.serviceUnavailable, error: "storage unreachable; try again"))
        }
        return Response(granted(ticket: ticket, user: user))
    }

    /// `POST /login` on the event loop, when every step of it can run there: an authenticator
    /// that answers at once (guest login) and tickets in memory. The same steps as `login`,
    /// which still answers whatever this route passes on (a body over the limit, say).
    func eventLoopRoutes() -> EventLoopRoutes {
        var routes = EventLoopRoutes()
        guard let immediate = authenticator as? any ImmediateAuthenticator, let local = tickets as? TicketStore else { return routes }
        routes.add(.post, "/login", maxBodySize: Self.maxLoginBody) { request, body, channel in
            var reply = immediateLogin(request, body: body, address: channel.remoteAddress?.ipAddress ?? "unknown", authenticator: immediate, tickets: local)
            SecurityHeadersMiddleware<ChatRequestContext>.addHeaders(to: &reply.headerFields)
            return reply
        }
        return routes
    }

    private func immediateLogin(
        _ request: HTTPRequest, body: ByteBuffer, address: String, authenticator: any ImmediateAuthenticator, tickets: TicketStore
    ) -> EventLoopRoutes.Response {
        let reserved = authenticator.checksSecrets
        if let refusal = admitLogin(from: address, reservingFailure: reserved) { return refusal }
        let credentials: LoginCredentials
        switch Self.credentials(body: body, headers: request.headerFields) {
        case .success(let read): credentials = read
        case .failure(let refusal): return refusal.reply
        }
        let user = authenticator.authenticateImmediately(
            username: credentials.username, password: credentials.password, bearerToken: credentials.bearer
        )
        settleAttempt(from: address, user: user, reservedFailure: reserved)
        guard let user else { return Self.reply(.unauthorized, error: "invalid username or password") }
        return granted(ticket: tickets.issue(for: user), user: user)
    }

    // MARK: the login's steps, shared by both routes

    /// Refuses a login before any work: the server is draining (a ticket issued now would
    /// be refused by `/ws` anyway), or the address is over its attempt budget.
    private func admitLogin(from address: String, reservingFailure: Bool) -> EventLoopRoutes.Response? {
        if state.isDraining { return Self.reply(.serviceUnavailable, error: "server is shutting down") }
        guard loginLimiter.allowAttempt(from: address, reservingFailure: reservingFailure) else {
            return Self.reply(.tooManyRequests, error: "too many login attempts; try again later")
        }
        return nil
    }

    struct LoginCredentials {
        var username: String?
        var password: String?
        var bearer: String?
    }

    struct LoginRefusal: Error {
        var reply: EventLoopRoutes.Response
    }

    static func credentials(body: ByteBuffer, headers: HTTPFields) -> Result<LoginCredentials, LoginRefusal> {
        guard let login = try? JSONDecoder().decode(LoginRequest.self, from: Data(body.readableBytesView)) else {
            return .failure(LoginRefusal(reply: reply(.badRequest, error: "body must be JSON {\"username\": string, \"password\": string}")))
        }
        var bearer: String?
        if let authorization = headers[.authorization], authorization.lowercased().hasPrefix("bearer ") {
            bearer = String(authorization.dropFirst("bearer ".count))
        }
        return .success(LoginCredentials(username: login.username, password: login.password, bearer: bearer))
    }

    /// Charges a failed attempt, or refunds the one reserved before the work.
    private func settleAttempt(from address: String, user: String?, reservedFailure: Bool) {
        if user == nil {
            if !reservedFailure { loginLimiter.recordFailure(from: address) }
        } else if reservedFailure {
            loginLimiter.succeeded(from: address)
        }
    }

    private func granted(ticket: String, user: String) -> EventLoopRoutes.Response {
        let seconds = Int(tickets.lifetime.components.seconds)
        return EventLoopRoutes.Response(
            status: .ok, headerFields: [.contentType: "application/json", .cacheControl: "no-store"],
            body: LoginResponse(ticket: ticket, expiresIn: seconds, user: user).jsonBuffer()
        )
    }

    static func reply(_ status: HTTPResponse.Status, error message: String) -> EventLoopRoutes.Response {
        var buffer = ByteBuffer()
        buffer.writeString(#"{"error":"#)
        buffer.writeJSONString(message)
        buffer.writeString("}")
        return EventLoopRoutes.Response(status: status, headerFields: [.contentType: "application/json"], body: buffer)
    }

    static func json(_ status: HTTPResponse.Status, _ text: String) -> Response {
        Response(status: status, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(string: text)))
    }
}

extension Response {
    init(_ reply: EventLoopRoutes.Response) {
        self.init(status: reply.status, headers: reply.headerFields, body: .init(byteBuffer: reply.body))
    }
}

/// Hummingbird's request context plus the peer's address (for per-address login limits).
struct ChatRequestContext: RequestContext, RemoteAddressRequestContext {
    var coreContext: CoreRequestContextStorage
    let remoteAddress: SocketAddress?

    init(source: ApplicationRequestContextSource) {
        coreContext = .init(source: source)
        remoteAddress = source.channel.remoteAddress
    }
}
