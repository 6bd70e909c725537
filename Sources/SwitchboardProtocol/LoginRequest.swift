/// The body of `POST /login`. Fields are optional so that a server can answer a missing one
/// with its own message rather than a decoding failure.
public struct LoginRequest: Codable, Sendable, Equatable {
    public var username: String?
    public var password: String?

    public init(username: String?, password: String?) {
        self.username = username
        self.password = password
    }
}
