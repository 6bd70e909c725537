/// The client's connection state, as `SwitchboardClient.status` reports it.
public enum ConnectionStatus: Sendable, Equatable {
    case connecting
    case connected
    /// Attempt `attempt` starts after `after`; `reason` is what ended the last connection.
    case reconnecting(attempt: Int, after: Duration, reason: DisconnectReason)
    /// Final: the client stopped and will not reconnect.
    case disconnected(DisconnectReason)
}
