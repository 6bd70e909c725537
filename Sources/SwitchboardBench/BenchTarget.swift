import Foundation

/// Where the benchmarked server is: parsed from `--url`.
///
/// `http`/`ws` and `https`/`wss` are accepted interchangeably, because users copy whichever
/// URL they have; logins go to `<base>/login` and sockets to `<base>/ws`, so a server behind a
/// reverse proxy under a path prefix (`https://example.com/chat`) works too.
public struct BenchTarget: Sendable, CustomStringConvertible {
    public var host: String
    public var port: Int
    public var useTLS: Bool
    /// Path prefix without a trailing slash ("" for none).
    public var pathPrefix: String

    public init(url: String) throws {
        guard let schemeEnd = url.range(of: "://") else {
            throw BenchConfigurationError("--url must look like http://host:port, got \(url)")
        }
        let scheme = url[..<schemeEnd.lowerBound].lowercased()
        switch scheme {
        case "http", "ws": useTLS = false
        case "https", "wss": useTLS = true
        default: throw BenchConfigurationError("--url scheme must be http, https, ws or wss, got \(scheme)")
        }
        var rest = url[schemeEnd.upperBound...]
        var path = ""
        if let slash = rest.firstIndex(of: "/") {
            path = String(rest[slash...])
            rest = rest[..<slash]
        }
        while path.hasSuffix("/") { path.removeLast() }
        if path.hasSuffix("/ws") { path.removeLast(3) }  // a pasted socket URL
        pathPrefix = path
        port = useTLS ? 443 : 80
        if rest.hasPrefix("[") {  // [::1]:8080
            guard let close = rest.firstIndex(of: "]") else { throw BenchConfigurationError("bad IPv6 host in \(url)") }
            host = String(rest[rest.index(after: rest.startIndex)..<close])
            let after = rest[rest.index(after: close)...]
            if after.hasPrefix(":") {
                guard let parsed = Int(after.dropFirst()) else { throw BenchConfigurationError("bad port in \(url)") }
                port = parsed
            }
        } else if let colon = rest.lastIndex(of: ":") {
            host = String(rest[..<colon])
            guard let parsed = Int(rest[rest.index(after: colon)...]) else { throw BenchConfigurationError("bad port in \(url)") }
            port = parsed
        } else {
            host = String(rest)
        }
        guard !host.isEmpty, (1...65535).contains(port) else { throw BenchConfigurationError("bad host or port in \(url)") }
    }

    /// The `Host` header.
    var hostHeader: String {
        let name = host.contains(":") ? "[\(host)]" : host
        return (port == (useTLS ? 443 : 80)) ? name : "\(name):\(port)"
    }

    /// IPv4 loopback (127.0.0.0/8, or `localhost`): the case where the client side runs out
    /// of ephemeral ports first, so sockets are spread over several source addresses.
    var isIPv4Loopback: Bool {
        host == "localhost" || host.hasPrefix("127.")
    }

    /// Whether `host` is an IP literal (no TLS server name indication for those).
    var hostIsIPAddress: Bool {
        host.contains(":") || host.allSatisfy { $0.isNumber || $0 == "." }
    }

    public var description: String {
        "\(useTLS ? "https" : "http")://\(hostHeader)\(pathPrefix)"
    }
}

public struct BenchConfigurationError: Error, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}
