import Atomics
import Foundation

/// Which browser origins may open WebSockets (cross-site WebSocket hijacking and DNS
/// rebinding protection).
///
/// Browsers always send `Origin` on WebSocket upgrades; other clients usually do not, and are
/// allowed. The allowed origins come from configuration only: the configured list, or by
/// default the server's own address (listen host and port, `localhost` too when that is a
/// loopback address, and the public URL when there is one). Never from the request's `Host`:
/// a page on `evil.test` whose name has been rebound to 127.0.0.1 reaches the server with
/// `Host: evil.test:PORT` and `Origin: http://evil.test:PORT`, which "same as Host" would
/// let through.
public final class OriginPolicy: Sendable {
    /// An origin as browsers send it, normalised so that equal origins compare equal: scheme
    /// and host lower-cased, the port always explicit (`https://a.example` and
    /// `https://a.example:443` are one origin).
    public struct Origin: Hashable, Sendable, CustomStringConvertible {
        public let scheme: String
        public let host: String
        public let port: Int

        public init?(_ text: String) {
            var value = Substring(text.trimmingCharacters(in: .whitespaces))
            guard let separator = value.range(of: "://") else { return nil }
            let scheme = value[..<separator.lowerBound].lowercased()
            value = value[separator.upperBound...]
            // A public URL may carry a path; an origin never does.
            if let slash = value.firstIndex(of: "/") { value = value[..<slash] }
            guard !value.isEmpty, !value.contains("@") else { return nil }
            var host = value
            var port: Int?
            if let colon = value.lastIndex(of: ":"), !value[colon...].contains("]") {
                guard let number = Int(value[value.index(after: colon)...]), (1...65535).contains(number) else { return nil }
                host = value[..<colon]
                port = number
            }
            guard !host.isEmpty else { return nil }
            switch scheme {
            case "http", "ws": self.init(scheme: "http", host: String(host), port: port ?? 80)
            case "https", "wss": self.init(scheme: "https", host: String(host), port: port ?? 443)
            default: return nil
            }
        }

        public init(scheme: String, host: String, port: Int) {
            self.scheme = scheme.lowercased()
            let host = host.lowercased()
            // An IPv6 address is written in brackets in an origin.
            self.host = host.contains(":") && !host.hasPrefix("[") ? "[\(host)]" : host
            self.port = port
        }

        public var description: String { "\(scheme)://\(host):\(port)" }
    }

    private let configured: Set<Origin>
    private let allowsAny: Bool
    /// Hosts the server's own origin may name, when no list is configured.
    private let ownHosts: [String]
    private let ownScheme: String
    private let publicOrigin: Origin?
    /// The port the server listens on; the configured one until the listener reports the
    /// real one (port 0 picks an ephemeral port).
    private let listeningPort: ManagedAtomic<Int>

    /// - Parameters:
    ///   - allowed: configured origins (`*` for any); when not empty they replace the default.
    ///   - listenHost, port, secure: the server's own address, for the default.
    ///   - publicURL: where users reach the server (behind a proxy or by a DNS name).
    public init(allowed: [String], listenHost: String, port: Int, secure: Bool, publicURL: String? = nil) throws {
        var configured: Set<Origin> = []
        var allowsAny = false
        for entry in allowed {
            if entry.trimmingCharacters(in: .whitespaces) == "*" {
                allowsAny = true
                continue
            }
            guard let origin = Origin(entry) else { throw ConfigurationError("not an origin: \(entry) (expected scheme://host[:port])") }
            configured.insert(origin)
        }
        self.configured = configured
        self.allowsAny = allowsAny
        if let publicURL {
            guard let origin = Origin(publicURL) else { throw ConfigurationError("not a URL: \(publicURL) (expected http(s)://host[:port][/path])") }
            publicOrigin = origin
        } else {
            publicOrigin = nil
        }
        ownScheme = secure ? "https" : "http"
        ownHosts = Self.hostNames(listeningOn: listenHost)
        listeningPort = ManagedAtomic(port)
    }

    /// Tells the policy the port the listener got.
    public func listening(on port: Int) {
        listeningPort.store(port, ordering: .relaxed)
    }

    /// Whether an upgrade with this `Origin` header (nil: none sent) may proceed.
    public func permits(origin: String?) -> Bool {
        guard let origin else { return true }
        if allowsAny || Self.isFromNonBrowserClient(origin) { return true }
        guard let parsed = Origin(origin) else { return false }
        if !configured.isEmpty { return configured.contains(parsed) }
        if parsed == publicOrigin { return true }
        return parsed.scheme == ownScheme && parsed.port == listeningPort.load(ordering: .relaxed) && ownHosts.contains(parsed.host)
    }

    /// Browsers send the page's origin (`http`, `https`, or `null`), never a `ws://` or `wss://`
    /// one, and a page cannot set the header. Such an origin comes from a non-browser
    /// WebSocket library (swift-websocket's WSClient always sends its target URL's), so it is
    /// treated like no `Origin`: there is no page, hence no cross-site hijacking to stop.
    static func isFromNonBrowserClient(_ origin: String) -> Bool {
        let scheme = origin.trimmingCharacters(in: .whitespaces).prefix { $0 != ":" }.lowercased()
        return scheme == "ws" || scheme == "wss"
    }

    /// The names a browser may use for a server listening on `host`. A loopback listener is
    /// also `localhost` (and the reverse); a wildcard listener is reachable on loopback too,
    /// and by other names only through a configured public URL or origin list.
    static func hostNames(listeningOn host: String) -> [String] {
        let own = Origin(scheme: "http", host: host, port: 0).host
        let loopback = ["localhost", "127.0.0.1", "[::1]"]
        if own == "localhost" || own == "[::1]" || own.hasPrefix("127.") { return Array(Set([own] + loopback)) }
        if own == "0.0.0.0" || own == "[::]" { return loopback }
        return [own]
    }
}
