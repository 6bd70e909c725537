/// `200` of `POST /login`: a single-use ticket for `GET /ws?ticket=T`.
public struct LoginResponse: Codable, Sendable, Equatable {
    public var ticket: String
    public var expiresIn: Int
    public var user: String

    enum CodingKeys: String, CodingKey {
        case ticket, user
        case expiresIn = "expires_in"
    }

    public init(ticket: String, expiresIn: Int, user: String) {
        self.ticket = ticket
        self.expiresIn = expiresIn
        self.user = user
    }
}
