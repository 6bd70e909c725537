import HummingbirdCore

/// How the HTTP + WebSocket child channel behaves.
public struct SwitchboardServerConfiguration: Sendable {
    public var connection = ConnectionConfiguration()
    /// Largest message the echo endpoint accepts (Autobahn's performance cases send 16 MiB).
    public var echoMaxMessageSize = 16 * 1024 * 1024
    public var http1 = HTTP1Channel.Configuration()

    public init() {}
}
