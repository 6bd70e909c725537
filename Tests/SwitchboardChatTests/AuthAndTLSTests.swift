import Foundation
import HummingbirdBcrypt
import JWTKit
import Logging
import NIOSSL
import SwitchboardChat
import SwitchboardTestSupport
import Testing

@Suite("Authentication modes")
struct AuthenticationTests {
    /// Runs `body` with a users file holding `contents`, in a directory removed afterwards.
    static func withUsersFile(_ contents: String, _ body: (String) async throws -> Void) async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("sb-users-\(UUID())")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let file = directory.appendingPathComponent("users")
        try contents.write(to: file, atomically: true, encoding: .utf8)
        try await body(file.path)
    }

    /// The error a users file gets at start-up, or nil if the server starts.
    static func startupError(usersFile contents: String) async throws -> String? {
        var message: String?
        try await withUsersFile(contents) { path in
            do {
                _ = try UsersFileAuthenticator(path: path)
            } catch let error as ConfigurationError {
                message = error.description
            }
        }
        return message
    }

    @Test("users file: the right bcrypt password logs in; a wrong one or an unknown user gets 401")
    func usersFile() async throws {
        try await Self.withUsersFile("# test users\ncarol:\(Bcrypt.hash("correct horse", cost: 4))\n") { path in
            try await ChatTestServer.run({ $0.auth = .usersFile(path: path) }) { server in
                let ok = try await server.http("POST", "/login", body: #"{"username":"carol","password":"correct horse"}"#)
                #expect(ok.status == 200)
                let wrong = try await server.http("POST", "/login", body: #"{"username":"carol","password":"battery"}"#)
                #expect(wrong.status == 401)
                let unknown = try await server.http("POST", "/login", body: #"{"username":"dave","password":"correct horse"}"#)
                #expect(unknown.status == 401)
                let none = try await server.http("POST", "/login", body: #"{"username":"carol"}"#)
                #expect(none.status == 401)
            }
        }
    }

    @Test("users file: a $2y$ hash (htpasswd -B, PHP) logs in with the right password")
    func usersFile2y() async throws {
        let hash = "$2y$" + Bcrypt.hash("correct horse", cost: 4).dropFirst(4)
        try await Self.withUsersFile("carol:\(hash)\n") { path in
            try await ChatTestServer.run({ $0.auth = .usersFile(path: path) }) { (server: ChatTestServer) async throws in
                #expect(try await server.http("POST", "/login", body: #"{"username":"carol","password":"correct horse"}"#).status == 200)
                #expect(try await server.http("POST", "/login", body: #"{"username":"carol","password":"battery"}"#).status == 401)
            }
        }
    }

    @Test("users file: unverifiable hashes, duplicate users and a missing file stop start-up with a clear error")
    func usersFileErrors() async throws {
        let good = Bcrypt.hash("pw", cost: 4)
        for bad in ["$2x$" + good.dropFirst(4), "$2b$03$" + good.dropFirst(7), String(good.dropLast()), "{SHA}W6ph5Mm5Pz8GgiULbPgzG37mj9g="] {
            let message = try await Self.startupError(usersFile: "# users\ncarol:\(bad)\n")
            #expect(message?.contains("line 2") == true && message?.contains("carol") == true, "\(bad): \(message ?? "accepted")")
        }
        let duplicate = try await Self.startupError(usersFile: "carol:\(good)\ndave:\(good)\ncarol:\(good)\n")
        #expect(duplicate?.contains("line 3") == true && duplicate?.contains("line 1") == true, "\(duplicate ?? "accepted")")
        let missing = "/nonexistent-\(UUID())/users"
        #expect(throws: ConfigurationError("users file \(missing) does not exist")) { try UsersFileAuthenticator(path: missing) }
    }

    @Test("users file: an empty one starts with a warning that nobody can log in")
    func usersFileEmpty() async throws {
        try await Self.withUsersFile("# nobody yet\n") { path in
            try await ChatTestServer.run({ $0.auth = .usersFile(path: path) }) { server in
                #expect(server.logs.entries(atLeast: .warning).contains { $0.message.contains("nobody can log in") })
            }
        }
    }

    @Test("users file: an unknown username costs one bcrypt verification, like a wrong password")
    func constantWork() async throws {
        let users = try UsersFileAuthenticator(contents: "carol:\(Bcrypt.hash("correct horse", cost: 10))\n")
        let clock = ContinuousClock()
        var unknown: [Duration] = []
        var wrong: [Duration] = []
        for _ in 0..<3 {
            unknown.append(await clock.measure { _ = await users.authenticate(username: "dave", password: "x", bearerToken: nil) })
            wrong.append(await clock.measure { _ = await users.authenticate(username: "carol", password: "x", bearerToken: nil) })
        }
        let fastestUnknown = try #require(unknown.min()), fastestWrong = try #require(wrong.min())
        #expect(fastestUnknown * 2 > fastestWrong, "unknown user \(fastestUnknown), wrong password \(fastestWrong)")
    }

    @Test("concurrent wrong-password logins from one address cannot all pass the failure limit before bcrypt ends")
    func concurrentGuesses() async throws {
        try await Self.withUsersFile("carol:\(Bcrypt.hash("correct horse", cost: 10))\n") { path in
            try await ChatTestServer.run({
                $0.auth = .usersFile(path: path)
                $0.loginLimits.failureBurst = 3
                $0.loginLimits.failuresPerSecond = 0.001
            }) { server in
                let statuses = try await withThrowingTaskGroup(of: Int.self) { group in
                    for n in 0..<40 {
                        group.addTask {
                            try await server.http("POST", "/login", body: #"{"username":"carol","password":"guess\#(n)"}"#).status
                        }
                    }
                    return try await group.reduce(into: [Int]()) { $0.append($1) }
                }
                #expect(statuses.filter { $0 == 401 }.count <= 3, "\(statuses)")
                #expect(statuses.filter { $0 == 429 }.count >= 37, "\(statuses)")
            }
        }
    }

    struct TestClaims: JWTPayload {
        var sub: SubjectClaim
        var exp: ExpirationClaim
        var iss: IssuerClaim?
        var nbf: NotBeforeClaim?
        var iat: IssuedAtClaim?
        func verify(using algorithm: some JWTAlgorithm) async throws {}
    }

    static func claims(
        _ user: String, expiresIn: TimeInterval = 60, issuer: String? = nil, notBefore: TimeInterval? = nil, issuedAt: TimeInterval? = nil
    ) -> TestClaims {
        TestClaims(
            sub: .init(value: user), exp: .init(value: Date().addingTimeInterval(expiresIn)), iss: issuer.map { .init(value: $0) },
            nbf: notBefore.map { .init(value: Date().addingTimeInterval($0)) }, iat: issuedAt.map { .init(value: Date().addingTimeInterval($0)) }
        )
    }

    @Test("JWT: a token not valid yet (nbf) or issued in the future (iat) gets 401, beyond 60 s of clock skew")
    func jwtTimeClaims() async throws {
        let secret = "a-shared-secret-of-at-least-32-bytes!"
        let signer = JWTKeyCollection()
        await signer.add(hmac: HMACKey(from: secret), digestAlgorithm: .sha256)
        try await ChatTestServer.run({ $0.auth = .jwt(.init(hmacSecret: secret)) }) { (server: ChatTestServer) async throws in
            func status(_ claims: TestClaims) async throws -> Int {
                let token = try await signer.sign(claims)
                return try await server.http("POST", "/login", headers: [("Authorization", "Bearer \(token)")], body: "{}").status
            }
            #expect(try await status(Self.claims("ivy", expiresIn: 3600, notBefore: 600)) == 401, "nbf in 10 minutes accepted")
            #expect(try await status(Self.claims("ivy", expiresIn: 3600, issuedAt: 600)) == 401, "iat in 10 minutes accepted")
            #expect(try await status(Self.claims("ivy", notBefore: -10, issuedAt: -10)) == 200)
            #expect(try await status(Self.claims("ivy", notBefore: 20, issuedAt: 20)) == 200, "20 s of clock skew refused")
        }
    }

    @Test("JWT HS256: a valid token logs in as its subject (bearer or password); bad signature, expiry or issuer get 401")
    func jwtHS256() async throws {
        let secret = "a-shared-secret-of-at-least-32-bytes!"
        let signer = JWTKeyCollection()
        await signer.add(hmac: HMACKey(from: secret), digestAlgorithm: .sha256)
        let other = JWTKeyCollection()
        await other.add(hmac: HMACKey(from: "another-secret-of-at-least-32-bytes!!"), digestAlgorithm: .sha256)
        try await ChatTestServer.run({ $0.auth = .jwt(.init(hmacSecret: secret, issuer: "idp")) }) { server in
            let token = try await signer.sign(Self.claims("erin", issuer: "idp"))
            let bearer = try await server.http("POST", "/login", headers: [("Authorization", "Bearer \(token)")], body: "{}")
            #expect(bearer.status == 200)
            #expect(bearer.body.contains(#""user":"erin""#))
            let asPassword = try await server.http("POST", "/login", body: #"{"username":"erin","password":"\#(token)"}"#)
            #expect(asPassword.status == 200)
            let otherName = try await server.http("POST", "/login", body: #"{"username":"frank","password":"\#(token)"}"#)
            #expect(otherName.status == 401)
            let forged = try await other.sign(Self.claims("erin", issuer: "idp"))
            #expect(try await server.http("POST", "/login", headers: [("Authorization", "Bearer \(forged)")], body: "{}").status == 401)
            let expired = try await signer.sign(Self.claims("erin", expiresIn: -60, issuer: "idp"))
            #expect(try await server.http("POST", "/login", headers: [("Authorization", "Bearer \(expired)")], body: "{}").status == 401)
            let wrongIssuer = try await signer.sign(Self.claims("erin", issuer: "elsewhere"))
            #expect(try await server.http("POST", "/login", headers: [("Authorization", "Bearer \(wrongIssuer)")], body: "{}").status == 401)
        }
    }

    @Test("JWT ES256: verified with the provider's public key")
    func jwtES256() async throws {
        let privateKey = ES256PrivateKey()
        let signer = JWTKeyCollection()
        await signer.add(ecdsa: privateKey)
        let pem = privateKey.publicKey.pemRepresentation
        try await ChatTestServer.run({ $0.auth = .jwt(.init(ecdsaPublicKeyPEM: pem)) }) { server in
            let token = try await signer.sign(Self.claims("gina"))
            let ok = try await server.http("POST", "/login", headers: [("Authorization", "Bearer \(token)")], body: "{}")
            #expect(ok.status == 200)
            let impostor = JWTKeyCollection()
            await impostor.add(ecdsa: ES256PrivateKey())
            let forged = try await impostor.sign(Self.claims("gina"))
            #expect(try await server.http("POST", "/login", headers: [("Authorization", "Bearer \(forged)")], body: "{}").status == 401)
        }
    }
}

@Suite("TLS")
struct TLSTests {
    static func withCertificate(_ body: (_ certificate: String, _ key: String, _ client: TLSConfiguration) async throws -> Void) async throws {
        try await TestCertificate.with(body)
    }

    @Test("wss: login and a chat round trip over TLS with a certificate generated for the test")
    func tls() async throws {
        try await Self.withCertificate { certificate, key, clientTLS in
            let context = try NIOSSLContext(configuration: clientTLS)
            try await ChatTestServer.run({ $0.tlsCertificatePath = certificate; $0.tlsKeyPath = key }, tls: context) { server in
                #expect(try await server.http("GET", "/healthz").status == 200)
                let alice = try await server.connect("alice")
                try await alice.request("join_room", ["room": "secure"])
                let ack = try await alice.request("send_message", ["room": "secure", "message": "over TLS"])
                #expect(ack["type"] as? String == "ack")
                #expect(payload(try await alice.next("new_message"))["message"] as? String == "over TLS")
                await alice.close()
                // A plaintext client gets no WebSocket from a TLS server.
                await #expect(throws: (any Error).self) {
                    _ = try await TestWebSocketClient.connect(port: server.port, path: "/ws?ticket=x", timeout: .seconds(2))
                }
            }
        }
    }

    @Test("TLS below 1.2, or a cipher without forward secrecy (AES128-SHA), gets no connection; TLS 1.2 with ECDHE does")
    func weakTLSRefused() async throws {
        try await Self.withCertificate { certificate, key, clientTLS in
            try await ChatTestServer.run({ $0.tlsCertificatePath = certificate; $0.tlsKeyPath = key }) { (server: ChatTestServer) async throws in
                func healthStatus(_ adjust: (inout TLSConfiguration) -> Void) async throws -> Int {
                    var configuration = clientTLS
                    adjust(&configuration)
                    let context = try NIOSSLContext(configuration: configuration)
                    // A refused handshake fails the request's write, or ends it without a response.
                    return (try? await TestHTTPClient.request("GET", port: server.port, path: "/healthz", tls: context))?.status ?? 0
                }
                #expect(try await healthStatus { $0.minimumTLSVersion = .tlsv1; $0.maximumTLSVersion = .tlsv11 } != 200, "TLS 1.1 accepted")
                #expect(try await healthStatus { $0.minimumTLSVersion = .tlsv1; $0.maximumTLSVersion = .tlsv1 } != 200, "TLS 1.0 accepted")
                #expect(try await healthStatus { $0.maximumTLSVersion = .tlsv12; $0.cipherSuites = "AES128-SHA" } != 200, "AES128-SHA accepted")
                #expect(try await healthStatus { $0.maximumTLSVersion = .tlsv12; $0.cipherSuites = "ECDHE-ECDSA-AES128-GCM-SHA256" } == 200)
                #expect(try await healthStatus { _ in } == 200)
            }
        }
    }
}
