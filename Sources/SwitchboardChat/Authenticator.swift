import Foundation
import HummingbirdBcrypt
import JWTKit
import NIOPosix

/// Checks a login and names the user, or refuses.
public protocol Authenticator: Sendable {
    /// The authenticated username, or nil (401).
    func authenticate(username: String?, password: String?, bearerToken: String?) async -> String?
}

/// Development mode: any valid username, any password or none.
public struct GuestAuthenticator: Authenticator {
    public init() {}
    public func authenticate(username: String?, password: String?, bearerToken: String?) async -> String? {
        guard let username, Validation.isValidUsername(username) else { return nil }
        return username
    }
}

/// Users from a file of `username:bcrypt-hash` lines (`#` comments allowed).
public struct UsersFileAuthenticator: Authenticator {
    let hashes: [String: String]

    public init(path: String) throws {
        let text = try String(contentsOfFile: path, encoding: .utf8)
        try self.init(contents: text)
    }

    public init(contents: String) throws {
        var hashes: [String: String] = [:]
        for (number, line) in contents.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let trimmed = line.trimmingCharacters(in: .whitespaces)
            if trimmed.isEmpty || trimmed.hasPrefix("#") { continue }
            let parts = trimmed.split(separator: ":", maxSplits: 1).map(String.init)
            guard parts.count == 2, Validation.isValidUsername(parts[0]), parts[1].hasPrefix("$2") else {
                throw ConfigurationError("users file line \(number + 1): expected username:bcrypt-hash")
            }
            hashes[parts[0]] = parts[1]
        }
        self.hashes = hashes
    }

    public func authenticate(username: String?, password: String?, bearerToken: String?) async -> String? {
        guard let username, let password, let hash = hashes[username] else { return nil }
        // bcrypt is deliberately slow (~100 ms at cost 10+): keep it off the event loops and
        // off the cooperative pool.
        let ok = try? await NIOThreadPool.singleton.runIfActive { Bcrypt.verify(password, hash: hash) }
        return ok == true ? username : nil
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

    struct Claims: JWTPayload {
        var exp: ExpirationClaim
        var iss: IssuerClaim?
        var aud: AudienceClaim?
        var other: [String: String]

        enum CodingKeys: String, CodingKey { case exp, iss, aud }

        init(from decoder: any Decoder) throws {
            let container = try decoder.container(keyedBy: CodingKeys.self)
            exp = try container.decode(ExpirationClaim.self, forKey: .exp)
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
            try exp.verifyNotExpired()
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

public struct ConfigurationError: Error, CustomStringConvertible {
    public var description: String
    public init(_ description: String) { self.description = description }
}
