import SwitchboardChat
import Testing

@Suite("Origin policy")
struct OriginPolicyUnitTests {
    @Test("origins compare normalised: scheme and host case, an explicit default port, a trailing slash")
    func normalised() throws {
        #expect(OriginPolicy.Origin("https://App.Example:443") == OriginPolicy.Origin("https://app.example"))
        #expect(OriginPolicy.Origin("HTTP://app.example:80/") == OriginPolicy.Origin("http://app.example"))
        #expect(OriginPolicy.Origin("http://app.example:8080") != OriginPolicy.Origin("http://app.example"))
        #expect(OriginPolicy.Origin("https://app.example") != OriginPolicy.Origin("http://app.example:443"))
        #expect(OriginPolicy.Origin("http://[::1]:8080") == OriginPolicy.Origin(scheme: "http", host: "::1", port: 8080))
        #expect(OriginPolicy.Origin("null") == nil)
        #expect(OriginPolicy.Origin("http://a.example:99999") == nil)

        let configured = try OriginPolicy(allowed: ["https://App.Example:443"], listenHost: "127.0.0.1", port: 8080, secure: false)
        #expect(configured.permits(origin: "https://app.example"))
        #expect(!configured.permits(origin: "http://127.0.0.1:8080"))
    }

    @Test("the default comes from the listen address, never from a Host: loopback adds localhost, a wildcard only loopback")
    func defaults() throws {
        let loopback = try OriginPolicy(allowed: [], listenHost: "127.0.0.1", port: 8080, secure: false)
        #expect(loopback.permits(origin: "http://127.0.0.1:8080"))
        #expect(loopback.permits(origin: "http://localhost:8080"))
        #expect(!loopback.permits(origin: "https://localhost:8080"))
        #expect(!loopback.permits(origin: "http://localhost:8081"))
        #expect(!loopback.permits(origin: "http://evil.test:8080"))
        #expect(loopback.permits(origin: nil))
        #expect(!loopback.permits(origin: "null"))

        let ephemeral = try OriginPolicy(allowed: [], listenHost: "localhost", port: 0, secure: true)
        ephemeral.listening(on: 40001)
        #expect(ephemeral.permits(origin: "https://127.0.0.1:40001"))
        #expect(ephemeral.permits(origin: "https://localhost:40001"))

        let named = try OriginPolicy(allowed: [], listenHost: "10.1.2.3", port: 80, secure: false)
        #expect(named.permits(origin: "http://10.1.2.3"))
        #expect(!named.permits(origin: "http://localhost"))

        let wildcard = try OriginPolicy(allowed: [], listenHost: "0.0.0.0", port: 8080, secure: false, publicURL: "https://chat.example.com/")
        #expect(wildcard.permits(origin: "https://chat.example.com:443"))
        #expect(wildcard.permits(origin: "http://localhost:8080"))
        #expect(!wildcard.permits(origin: "http://0.0.0.0:8080"))
        #expect(!wildcard.permits(origin: "http://evil.test:8080"))
    }

    @Test("a ws:// or wss:// Origin is a non-browser client's (browsers never send one) and is allowed like none; http(s) from elsewhere still is not")
    func nonBrowserOrigins() throws {
        let loopback = try OriginPolicy(allowed: [], listenHost: "127.0.0.1", port: 8080, secure: false)
        #expect(loopback.permits(origin: "ws://127.0.0.1"))
        #expect(loopback.permits(origin: "WSS://chat.example.com"))
        #expect(!loopback.permits(origin: "http://127.0.0.1"))
        #expect(!loopback.permits(origin: "https://evil.test"))
        #expect(!loopback.permits(origin: "wsx://evil.test"))
        let configured = try OriginPolicy(allowed: ["https://app.example"], listenHost: "127.0.0.1", port: 8080, secure: false)
        #expect(configured.permits(origin: "ws://127.0.0.1"))
        #expect(!configured.permits(origin: "http://127.0.0.1:8080"))
    }

    @Test("a configured origin or public URL that is not one is a start-up error")
    func invalidConfiguration() {
        #expect(throws: ConfigurationError.self) { try OriginPolicy(allowed: ["chat.example.com"], listenHost: "127.0.0.1", port: 1, secure: false) }
        #expect(throws: ConfigurationError.self) { try OriginPolicy(allowed: [], listenHost: "127.0.0.1", port: 1, secure: false, publicURL: "ftp://x") }
    }
}
