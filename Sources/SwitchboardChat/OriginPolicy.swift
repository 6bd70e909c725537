import Foundation
import HTTPTypes

/// Which browser origins may open WebSockets (cross-site WebSocket hijacking protection).
///
/// Browsers always send `Origin` on WebSocket upgrades; other clients usually do not, and are
/// allowed. With no configured origins, only the server's own origin is allowed: an Origin
/// whose host and port equal the request's `Host`.
public struct OriginPolicy: Sendable {
    public let allowed: Set<String>

    public init(allowed: [String]) {
        self.allowed = Set(allowed.map(Self.normalize))
    }

    public func permits(origin: String?, host: String?) -> Bool {
        guard let origin else { return true }
        let normalized = Self.normalize(origin)
        if allowed.contains("*") || allowed.contains(normalized) { return true }
        guard allowed.isEmpty, let host else { return false }
        // Same origin: scheme://host[:port] where host[:port] is what the client asked for.
        for scheme in ["http://", "https://"] where normalized.hasPrefix(scheme) {
            let authority = normalized.dropFirst(scheme.count)
            if authority == host.lowercased() { return true }
            let defaultPort = scheme == "http://" ? ":80" : ":443"
            if authority + defaultPort == host.lowercased() || authority == host.lowercased() + defaultPort { return true }
        }
        return false
    }

    static func normalize(_ origin: String) -> String {
        var value = origin.trimmingCharacters(in: .whitespaces).lowercased()
        while value.hasSuffix("/") { value.removeLast() }
        return value
    }
}
