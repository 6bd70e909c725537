/// How the client gets a ticket for each connection.
public enum Credentials: Sendable {
    /// `POST /login` with a username and password (or none, for a guest-mode server).
    case password(username: String, password: String?)
    /// `POST /login` with `Authorization: Bearer`, the token fetched anew before every
    /// connection, so an identity provider's short-lived tokens are refreshed on reconnect.
    case token(@Sendable () async throws -> String)
    /// A ticket obtained elsewhere. Single-use: the client connects once and does not reconnect.
    case ticket(String)
}
