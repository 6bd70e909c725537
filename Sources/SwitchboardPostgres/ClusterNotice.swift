import Foundation
import Switchboard

/// One NOTIFY on the `switchboard` channel, as `switchboard_append` and
/// `switchboard_presence_set` write it: a message (`r`, `s`, and `f`/`m`/`t` when it fit in
/// NOTIFY's 8000 bytes) or a presence change (`k`, `r`, `u`). Short keys: every node decodes
/// every message's notice.
struct ClusterNotice: Decodable, Sendable {
    enum Kind: Sendable {
        /// A message whose body came along.
        case message(StoredMessage)
        /// A message too big for NOTIFY: fetch it.
        case messageAt(room: String, seq: Int)
        case presence(PresenceChange)
    }

    private var r: String
    private var s: Int?
    private var f: String?
    private var m: String?
    private var t: Int64?
    private var k: String?
    private var u: String?

    static func decode(_ payload: String) -> Kind? {
        guard let notice = try? JSONDecoder().decode(ClusterNotice.self, from: Data(payload.utf8)) else { return nil }
        return notice.kind
    }

    var kind: Kind? {
        if let seq = s {
            guard let from = f, let message = m, let millis = t else { return .messageAt(room: r, seq: seq) }
            let sent = Date(timeIntervalSince1970: Double(millis) / 1000)
            return .message(StoredMessage(room: r, seq: seq, from: from, message: message, sent: sent))
        }
        guard let user = u else { return nil }
        switch k {
        case "joined": return .presence(PresenceChange(kind: .joined, room: r, user: user))
        case "left": return .presence(PresenceChange(kind: .left, room: r, user: user))
        default: return nil
        }
    }
}
