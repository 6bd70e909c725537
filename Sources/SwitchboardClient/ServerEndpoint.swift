import Foundation

/// Where the server is, from one URL: `http://`, `https://`, `ws://` or `wss://` host and
/// port (any path is ignored). Login goes to `/login`, the socket to `/ws`.
public struct ServerEndpoint: Sendable, Equatable {
    public var host: String
    public var port: Int
    public var isTLS: Bool

    public init(host: String, port: Int, isTLS: Bool) {
        self.host = host
        self.port = port
        self.isTLS = isTLS
    }

    public init?(url: String) {
        guard let components = URLComponents(string: url), let scheme = components.scheme?.lowercased(),
              let host = components.host, !host.isEmpty
        else { return nil }
        switch scheme {
        case "http", "ws": isTLS = false
        case "https", "wss": isTLS = true
        default: return nil
        }
        self.host = host
        port = components.port ?? (isTLS ? 443 : 80)
    }

    private static let unreserved = CharacterSet.alphanumerics.union(CharacterSet(charactersIn: "-._~"))

    var hostHeader: String { host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)" }

    func webSocketURL(ticket: String) -> String {
        // Unreserved characters (RFC 3986) stay as they are: servers compare tickets verbatim.
        let escaped = ticket.addingPercentEncoding(withAllowedCharacters: Self.unreserved) ?? ticket
        return "\(isTLS ? "wss" : "ws")://\(hostHeader)/ws?ticket=\(escaped)"
    }
}
