import HTTPTypes

/// The application's answer to a WebSocket upgrade request.
public enum UpgradeDecision: Sendable {
    /// Upgrade, as `user`; `mode` says what the connection's messages are for.
    case accept(user: String, mode: ConnectionMode = .events)
    /// Refuse with an HTTP status and a message (sent as `{"error": message}`). NIO's upgrader
    /// would drop a refused upgrade without answering; the channel answers this instead.
    case reject(HTTPResponse.Status, String)
}

/// What a connection's inbound messages go to.
public enum ConnectionMode: Sendable {
    /// Events, routed by the server's `EventRouter`; the connection is registered with the hub.
    case events
    /// Every message is sent back unchanged (conformance testing only; not registered).
    case echo
}
