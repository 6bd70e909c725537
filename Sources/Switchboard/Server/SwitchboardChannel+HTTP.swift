import HTTPTypes
import Hummingbird
import HummingbirdCore
import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOHTTPTypes
import NIOHTTPTypesHTTP1

/// The not-upgraded path: a plain HTTP request, or an upgrade the application refused, is
/// served by Hummingbird's HTTP/1.1 handlers on the same connection.
extension SwitchboardChannel {
    /// Builds Hummingbird's HTTP/1.1 pipeline on `channel` once NIO has decided not to
    /// upgrade, and hands it over as a refusal to write (if the application refused) or a
    /// request for the router.
    static func serveHTTP(
        on channel: any Channel, decision: NIOLockedValueBox<Decision>, configuration: SwitchboardServerConfiguration, logger: Logger
    ) throws -> UpgradeResult {
        try channel.pipeline.syncOperations.addHandler(HTTP1ToHTTPServerCodec(secure: false))
        if let timeout = configuration.requestTimeout {
            try channel.pipeline.syncOperations.addHandler(RequestDeadlineHandler(timeout: timeout))
        }
        try channel.pipeline.syncOperations.addHandlers(configuration.http1.additionalChannelHandlers())
        try channel.pipeline.syncOperations.addHandler(
            HTTPConnectionStateHandler(idleTimeout: configuration.http1.idleTimeout.map { .init($0) }, logger: logger)
        )
        // After the state handler, so the requests answered here count as activity for its
        // idle timeout and its close after a graceful shutdown, like the router's.
        if !configuration.eventLoopRoutes.isEmpty {
            try channel.pipeline.syncOperations.addHandler(EventLoopRouteHandler(routes: configuration.eventLoopRoutes))
        }
        // Half-closure on: Hummingbird finishes the writer to close a
        // `Connection: close` exchange.
        let asyncChannel = try NIOAsyncChannel<HTTPRequestPart, HTTPResponsePart>(
            wrappingChannelSynchronously: channel,
            configuration: .init(isOutboundHalfClosureEnabled: true)
        )
        if case .refused(let status, let message) = decision.withLockedValue({ $0 }) {
            return UpgradeResult.refused(asyncChannel, status, message)
        }
        return UpgradeResult.notUpgraded(asyncChannel)
    }

    static func writeRefusal(
        _ channel: NIOAsyncChannel<HTTPRequestPart, HTTPResponsePart>, status: HTTPResponse.Status, message: String, logger: Logger
    ) async {
        do {
            try await channel.executeThenClose { _, outbound in
                var body = ByteBuffer()
                body.writeString(#"{"error":"#)
                body.writeJSONString(message)
                body.writeString("}")
                let head = HTTPResponse(status: status, headerFields: [
                    .connection: "close",
                    .contentType: "application/json; charset=utf-8",
                    .contentLength: String(body.readableBytes),
                ])
                try await outbound.write(contentsOf: [.head(head), .body(body), .end(nil)])
            }
        } catch {
            logger.trace("could not write upgrade refusal", metadata: ["error": "\(error)"])
        }
    }

    /// NIO only upgrades the first request of a connection. A WebSocket request that arrives
    /// later on a keep-alive connection is redirected to itself with `Connection: close`, so the
    /// client retries on a fresh connection (Hummingbird's WebSocket channel does the same).
    static func redirectingLateUpgrades(_ responder: @escaping HTTPChannelHandler.Responder) -> HTTPChannelHandler.Responder {
        struct RedirectThenClose: Error {}
        return { request, responseWriter, channel in
            if request.headers[.upgrade]?.lowercased() == "websocket" {
                var location = request.uri.path
                if let query = request.uri.query { location += "?\(query)" }
                let response = HTTPResponse(status: .temporaryRedirect, headerFields: [.connection: "close", .location: location])
                try await responseWriter.writeResponse(response)
                throw RedirectThenClose()
            }
            try await responder(request, responseWriter, channel)
        }
    }
}
