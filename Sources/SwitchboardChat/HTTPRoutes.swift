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

    private func login(_ request: Request, context: ChatRequestContext) async throws -> Response {
        // A ticket issued now would be refused by `/ws` anyway.
        if state.isDraining { return Self.error(.serviceUnavailable, "server is shutting down") }
        let address = context.remoteAddress?.ipAddress ?? "unknown"
        let reserved = authenticator.checksSecrets
        guard loginLimiter.allowAttempt(from: address, reservingFailure: reserved) else {
            return Self.error(.tooManyRequests, "too many login attempts; try again later")
        }
        let body: ByteBuffer
        do {
            body = try await request.body.collect(upTo: 16 * 1024)
        } catch {
            return Self.error(.contentTooLarge, "body too large")
        }
        guard let login = try? JSONDecoder().decode(LoginRequest.self, from: Data(body.readableBytesView)) else {
            return Self.error(.badRequest, "body must be JSON {\"username\": string, \"password\": string}")
        }
        var bearer: String?
        if let authorization = request.headers[.authorization], authorization.lowercased().hasPrefix("bearer ") {
            bearer = String(authorization.dropFirst("bearer ".count))
        }
        guard let user = await authenticator.authenticate(username: login.username, password: login.password, bearerToken: bearer) else {
            if !reserved { loginLimiter.recordFailure(from: address) }
            return Self.error(.unauthorized, "invalid username or password")
        }
        if reserved { loginLimiter.succeeded(from: address) }
        let ticket: String
        do {
            ticket = try await tickets.issue(for: user)
        } catch {
            logger.warning("could not issue a ticket", metadata: ["error": "\(error)"])
            return Self.error(.serviceUnavailable, "storage unreachable; try again")
        }
        let seconds = Int(tickets.lifetime.components.seconds)
        return Response(
            status: .ok, headers: [.contentType: "application/json", .cacheControl: "no-store"],
            body: .init(byteBuffer: LoginResponse(ticket: ticket, expiresIn: seconds, user: user).jsonBuffer())
        )
    }

    static func error(_ status: HTTPResponse.Status, _ message: String) -> Response {
        var buffer = ByteBuffer()
        buffer.writeString(#"{"error":"#)
        buffer.writeJSONString(message)
        buffer.writeString("}")
        return Response(status: status, headers: [.contentType: "application/json"], body: .init(byteBuffer: buffer))
    }

    static func json(_ status: HTTPResponse.Status, _ text: String) -> Response {
        Response(status: status, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(string: text)))
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
