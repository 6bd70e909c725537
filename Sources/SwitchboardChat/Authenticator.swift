import Foundation
import HummingbirdBcrypt
import JWTKit
import NIOPosix

/// Checks a login and names the user, or refuses.
public protocol Authenticator: Sendable {
    /// The authenticated username, or nil (401).
    func authenticate(username: String?, password: String?, bearerToken: String?) async -> String?
    /// Whether a login checks a secret someone could guess. `POST /login` then charges every
    /// attempt against the address's failure budget before doing any work, and refunds it
    /// on success, so concurrent guesses cannot all pass the limit before any has failed.
    var checksSecrets: Bool { get }
}

extension Authenticator {
    public var checksSecrets: Bool { true }
}

/// An authenticator that answers at once, with no I/O and no deliberately slow hashing, so
/// a login can be answered on the connection's event loop (`EventLoopRoutes`) instead of in
/// a task. Password checks (bcrypt takes milliseconds on purpose) must not be one: they
/// would hold up every connection on that loop.
public protocol ImmediateAuthenticator: Authenticator {
    func authenticateImmediately(username: String?, password: String?, bearerToken: String?) -> String?
}

extension ImmediateAuthenticator {
    public func authenticate(username: String?, password: String?, bearerToken: String?) async -> String? {
        authenticateImmediately(username: username, password: password, bearerToken: bearerToken)
    }
}

/// Development mode: any valid username, any password or none.
public struct GuestAuthenticator: ImmediateAuthenticator {
    public init() {}

    /// Nothing to guess: a failure is only an invalid name, charged after the fact, so a
    /// benchmark's hundreds of concurrent logins from one address are not refused.
    public var checksSecrets: Bool { false }

    public func authenticateImmediately(username: String?, password: String?, bearerToken: String?) -> String? {
        guard let username, Validation.isValidUsername(username) else { return nil }
        return username
    }
}

/// Users from a file of `username:bcrypt-hash` lines (`#` comments allowed).
public struct UsersFileAuthenticator: Authenticator {
    let hashes: [String: String]
    /// Verified instead when the username is unknown, at the file's highest cost, so an
    /// unknown name takes as long as a wrong password and timing does not tell which
    /// usernames exist.
    let decoyHash: String

    public var userCount: Int { hashes.count }

    public init(path: String) throws {
        let text: String
        do {
            text = try String(contentsOfFile: path, encoding: .utf8)
        } catch {
            var isDirectory: ObjCBool = false
            if !FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) {
                throw ConfigurationError("users file \(path) does not exist")
            }
            if isDirectory.boolValue { throw ConfigurationError("users file \(path) is a directory") }
            if !FileManager.default.isReadableFile(atPath: path) { throw ConfigurationError("users file \(path) is not readable") }
            throw ConfigurationError("users file \(path) is not UTF-8 text")
        }
        do {
            try self.init(contents: text)
        } catch let error as ConfigurationError {
            throw ConfigurationError("users file \(path), \(error.description)")
        }
    }

    public init(contents: String) throws {
        var hashes: [String: String] = [:]
        var lineOfUser: [String: Int] = [:]
        var highestCost = 4
        for (index, line) in contents.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let number = index + 1
            let trimmed = line.trimmingCharacters(in: .whitespacesAndNewlines)
            if trimmed.isEmpty || trimmed.hasPrefix("#") { continue }
            let parts = trimmed.split(separator: ":", maxSplits: 1).map(String.init)
            guard parts.count == 2, Validation.isValidUsername(parts[0]) else {
                throw ConfigurationError("line \(number): expected username:bcrypt-hash")
            }
            guard let verified = Self.verifiableHash(parts[1]) else {
                throw ConfigurationError(
                    "line \(number): the hash of \(parts[0]) is not a bcrypt hash this server can verify "
                        + "(expected $2a$, $2b$ or $2y$, a cost of 04 to 31 and 53 characters of salt and hash)"
                )
            }
            if let first = lineOfUser[parts[0]] {
                throw ConfigurationError("line \(number): \(parts[0]) is already defined on line \(first)")
            }
            lineOfUser[parts[0]] = number
            hashes[parts[0]] = verified.hash
            highestCost = max(highestCost, verified.cost)
        }
        self.hashes = hashes
        var generator = SystemRandomNumberGenerator()
        decoyHash = Bcrypt.hash(String(generator.next() as UInt64, radix: 36), cost: UInt8(highestCost))
    }

    /// The hash in a form the bcrypt library verifies, and its cost; nil if it cannot be
    /// verified. `$2y$` (PHP, `htpasswd -B`) is the same algorithm as `$2b$` under another
    /// name, and the library knows only `$2a$` and `$2b$`.
    static func verifiableHash(_ text: String) -> (hash: String, cost: Int)? {
        let bytes = Array(text.utf8)
        guard bytes.count == 60, bytes[0] == UInt8(ascii: "$"), bytes[1] == UInt8(ascii: "2"),
            [UInt8(ascii: "a"), UInt8(ascii: "b"), UInt8(ascii: "y")].contains(bytes[2]), bytes[3] == UInt8(ascii: "$"),
            bytes[4..<6].allSatisfy({ (UInt8(ascii: "0")...UInt8(ascii: "9")).contains($0) }),
            let cost = Int(String(decoding: bytes[4..<6], as: UTF8.self)), (4...31).contains(cost), bytes[6] == UInt8(ascii: "$"),
            bytes[7...].allSatisfy({ byte in
                switch byte {
                case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"),
                    UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "."), UInt8(ascii: "/"):
                    return true
                default:
                    return false
                }
            })
        else { return nil }
        return (bytes[2] == UInt8(ascii: "y") ? "$2b$" + text.dropFirst(4) : text, cost)
    }

    public func authenticate(username: String?, password: String?, bearerToken: String?) async -> String? {
        let known = username.flatMap { hashes[$0] }
        let hash = known ?? decoyHash
        let candidate = password ?? ""
        // bcrypt is deliberately slow (~100 ms at cost 10+): keep it off the event loops and
        // off the cooperative pool. Always exactly one verification, known user or not.
        let ok = try? await NIOThreadPool.singleton.runIfActive { Bcrypt.verify(candidate, hash: hash) }
        guard ok == true, known != nil, password != nil else { return nil }
        return username
    }
}

/// Tokens from an existing identity provider: HS256 with a shared secret or ES256 with the
/// provider's public key. The token comes as `Authorization: Bearer` or as the password.
public struct JWTAuthenticator: Authenticator {
    /// One collection per algorithm: a collection verifies a key-id-less token with its
    /// default key only, so each configured key gets its own and a token is tried on each.
    let collections: [JWTKeyCollection]
    let settings: ChatConfiguration.JWTSettings

    public init(settings: ChatConfiguration.JWTSettings) async throws {
        var collections: [JWTKeyCollection] = []
        if let secret = settings.hmacSecret {
            guard secret.utf8.count >= 32 else { throw ConfigurationError("the HS256 secret must be at least 32 bytes") }
            let keys = JWTKeyCollection()
            await keys.add(hmac: HMACKey(from: secret), digestAlgorithm: .sha256)
            collections.append(keys)
        }
        if let pem = settings.ecdsaPublicKeyPEM {
            let keys = JWTKeyCollection()
            await keys.add(ecdsa: try ES256PublicKey(pem: pem))
            collections.append(keys)
        }
        guard !collections.isEmpty else {
            throw ConfigurationError("JWT mode needs an HS256 secret or an ES256 public key")
        }
        self.collections = collections
        self.settings = settings
    }

    /// How far the identity provider's clock may run ahead of ours for `nbf` and `iat`.
    static let clockLeeway: TimeInterval = 60

    struct Claims: JWTPayload {
        var exp: ExpirationClaim
        var nbf: NotBeforeClaim?
        var iat: IssuedAtClaim?
        var iss: IssuerClaim?
        var aud: AudienceClaim?
        var other: [String: String]

        enum CodingKeys: String, CodingKey { case exp, nbf, iat, iss, aud }

        struct IssuedInTheFuture: Error {}

        init(from decoder: any Decoder) throws {
            let container = try decoder.container(keyedBy: CodingKeys.self)
            exp = try container.decode(ExpirationClaim.self, forKey: .exp)
            nbf = try container.decodeIfPresent(NotBeforeClaim.self, forKey: .nbf)
            iat = try container.decodeIfPresent(IssuedAtClaim.self, forKey: .iat)
            iss = try container.decodeIfPresent(IssuerClaim.self, forKey: .iss)
            aud = try container.decodeIfPresent(AudienceClaim.self, forKey: .aud)
            let all = try decoder.container(keyedBy: AnyKey.self)
            var other: [String: String] = [:]
            for key in all.allKeys {
                if let value = try? all.decode(String.self, forKey: key) { other[key.stringValue] = value }
            }
            self.other = other
        }

        func encode(to encoder: any Encoder) throws {
            var container = encoder.container(keyedBy: CodingKeys.self)
            try container.encode(exp, forKey: .exp)
        }

        func verify(using algorithm: some JWTAlgorithm) async throws {
            let now = Date()
            try exp.verifyNotExpired(currentDate: now)
            // A token not valid yet, or issued in the future, was minted for later use (or by
            // a clock too wrong to trust): refused, within the leeway for clock skew.
            let skewed = now.addingTimeInterval(JWTAuthenticator.clockLeeway)
            try nbf?.verifyNotBefore(currentDate: skewed)
            if let iat, iat.value > skewed { throw IssuedInTheFuture() }
        }
    }

    struct AnyKey: CodingKey {
        var stringValue: String
        var intValue: Int? { nil }
        init(stringValue: String) { self.stringValue = stringValue }
        init?(intValue: Int) { nil }
    }

    public func authenticate(username: String?, password: String?, bearerToken: String?) async -> String? {
        guard let token = bearerToken ?? password else { return nil }
        var verified: Claims?
        for keys in collections {
            if let claims = try? await keys.verify(token, as: Claims.self) {
                verified = claims
                break
            }
        }
        guard let claims = verified else { return nil }
        if let issuer = settings.issuer, claims.iss?.value != issuer { return nil }
        if let audience = settings.audience, !(claims.aud?.value.contains(audience) ?? false) { return nil }
        guard let user = claims.other[settings.usernameClaim], Validation.isValidUsername(user) else { return nil }
        if let username, !username.isEmpty, username != user { return nil }
        return user
    }
}

public struct ConfigurationError: Error, Equatable, CustomStringConvertible {
    public var description: String
    public init(_ description: String) { self.description = description }
}
