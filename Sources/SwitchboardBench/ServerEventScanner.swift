#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// The fields of one server event that the bench needs, found without building a JSON tree.
///
/// A join storm sends every member of a big room a `user_joined` per later joiner (about 180
/// million events for 19,000 clients in one room), and a fan-out run delivers hundreds of
/// thousands of `new_message`s per second. A full JSON parse per event would make the bench,
/// not the server, the bottleneck; so this scanner walks the bytes once, skips string
/// contents with `memchr`, looks only at the keys the bench uses, and stops as soon as it has
/// them. It does not validate JSON: a malformed event comes back as `.other` or with fields
/// missing, and the caller counts it as a bad frame.
struct ServerEvent {
    enum Kind: Equatable {
        case newMessage, presence, ack, error, other, unknown
    }

    var kind: Kind = .unknown
    /// Top-level `id`, when it is an integer (or a string of digits).
    var id: Int64?
    /// Offsets into the scanned bytes of `payload.room`'s string contents.
    var room: Range<Int>?
    var seq: Int64?
    /// The leading integer of `payload.message`: the send time the bench wrote there.
    var messageNanos: Int64?
    /// Offsets of `payload.code`'s string contents (errors).
    var code: Range<Int>?
    /// Offsets of the top-level `ticket` string contents (the login answer).
    var ticket: Range<Int>?
}

enum ServerEventScanner {
    private static let presencePrefix: [UInt8] = Array(#"{"type":"user_"#.utf8)

    /// The cheap test run on every frame first: is this a presence event in the exact bytes the
    /// Switchboard server writes? Anything else (other servers, other spacing) goes through
    /// `scan`, which finds presence events too, only more slowly.
    @inline(__always)
    static func isPresenceFastPath(_ bytes: UnsafeRawBufferPointer) -> Bool {
        guard bytes.count > presencePrefix.count, let base = bytes.baseAddress else { return false }
        return presencePrefix.withUnsafeBytes { memcmp(base, $0.baseAddress!, presencePrefix.count) == 0 }
    }

    private static let newMessagePrefix: [UInt8] = Array(#"{"type":"new_message","payload":{"room":""#.utf8)
    private static let messageKey: [UInt8] = Array(#"","message":""#.utf8)
    private static let seqKey: [UInt8] = Array(#""seq":"#.utf8)

    /// A `new_message` in the exact layout the Switchboard server writes (`room` first, `seq`
    /// last), read by jumping to its three fields instead of walking every byte; nil for any
    /// other layout, which `scan` then reads. The jumps are safe because a raw `"` cannot
    /// occur inside a JSON string, so `","message":"` and a trailing `"seq":N}}` can only be
    /// the keys themselves.
    @inline(__always)
    static func newMessageFastPath(_ bytes: UnsafeRawBufferPointer) -> ServerEvent? {
        let count = bytes.count
        guard count > newMessagePrefix.count + 16, let base = bytes.baseAddress,
            newMessagePrefix.withUnsafeBytes({ memcmp(base, $0.baseAddress!, newMessagePrefix.count) == 0 })
        else { return nil }
        let roomStart = newMessagePrefix.count
        guard let roomQuote = memchr(base + roomStart, Int32(quote), count - roomStart) else { return nil }
        let roomEnd = base.distance(to: UnsafeRawPointer(roomQuote))
        guard let keyStart = find(messageKey, in: bytes, from: roomEnd) else { return nil }
        let messageStart = keyStart + messageKey.count
        // Backwards from the end: `"seq":<digits>}}`.
        var end = count
        while end > 0, bytes[end - 1] == UInt8(ascii: "}") || isSpace(bytes[end - 1]) { end -= 1 }
        var digitsStart = end
        while digitsStart > 0, bytes[digitsStart - 1] &- UInt8(ascii: "0") < 10 { digitsStart -= 1 }
        guard digitsStart < end, digitsStart >= seqKey.count + messageStart,
            seqKey.withUnsafeBytes({ memcmp(base + digitsStart - seqKey.count, $0.baseAddress!, seqKey.count) == 0 })
        else { return nil }
        var event = ServerEvent()
        event.kind = .newMessage
        event.room = roomStart..<roomEnd
        event.seq = leadingInteger(bytes, from: digitsStart, to: end)
        event.messageNanos = leadingInteger(bytes, from: messageStart, to: count)
        return event
    }

    /// The offset of `needle` (which starts with a quote) in `bytes` at or after `from`.
    @inline(__always)
    private static func find(_ needle: [UInt8], in bytes: UnsafeRawBufferPointer, from: Int) -> Int? {
        let base = bytes.baseAddress!
        var position = from
        return needle.withUnsafeBytes { key -> Int? in
            while bytes.count - position >= key.count {
                guard let found = memchr(base + position, Int32(key[0]), bytes.count - position - key.count + 1) else { return nil }
                let offset = base.distance(to: UnsafeRawPointer(found))
                if memcmp(base + offset, key.baseAddress!, key.count) == 0 { return offset }
                position = offset + 1
            }
            return nil
        }
    }

    private enum Key {
        case type, id, payload, ticket, room, seq, message, code, members, uninteresting
    }

    private static let quote = UInt8(ascii: "\"")
    private static let backslash = UInt8(ascii: "\\")

    /// Scans one JSON object. Keys count only at the top level (`type`, `id`, `ticket`) and
    /// directly inside the top-level `payload` object (`room`, `seq`, `message`, `code`), so a
    /// `seq` inside a join ack's `history` entries is never mistaken for the room's `seq`.
    static func scan(_ bytes: UnsafeRawBufferPointer) -> ServerEvent {
        var event = ServerEvent()
        let count = bytes.count
        guard count > 0 else { return event }
        var depth = 0
        var topLevelKey = Key.uninteresting  // the latest key at depth 1: names the container below it
        var pendingKey = Key.uninteresting  // the key whose value comes next
        var index = 0
        while index < count {
            let byte = bytes[index]
            switch byte {
            case quote:
                let start = index + 1
                guard let end = stringEnd(bytes, from: start) else { return event }
                index = end + 1
                // A key is a string followed by a colon.
                var next = index
                while next < count, isSpace(bytes[next]) { next += 1 }
                if next < count, bytes[next] == UInt8(ascii: ":") {
                    index = next + 1
                    pendingKey = key(bytes, start..<end, depth: depth, inPayload: depth == 2 && topLevelKey == .payload)
                    if depth == 1 { topLevelKey = pendingKey }
                    continue
                }
                // A string value.
                switch pendingKey {
                case .type: event.kind = kind(bytes, start..<end)
                case .room: event.room = start..<end
                case .code: event.code = start..<end
                case .ticket: event.ticket = start..<end
                case .message: event.messageNanos = leadingInteger(bytes, from: start, to: end)
                case .id: event.id = leadingInteger(bytes, from: start, to: end)
                case .seq, .payload, .members, .uninteresting: break
                }
                pendingKey = .uninteresting
                if isComplete(event) { return event }
            case UInt8(ascii: "[") where pendingKey == .members:
                // A join ack's member list: up to one name per member of the room, so in a
                // 19,000-member room it is most of the bytes of every late joiner's ack.
                // Usernames cannot contain brackets or quotes (PROTOCOL.md), so the list ends
                // at the first "]" and need not be walked string by string.
                guard let found = memchr(bytes.baseAddress! + index, Int32(UInt8(ascii: "]")), count - index) else { return event }
                index = bytes.baseAddress!.distance(to: UnsafeRawPointer(found)) + 1
                pendingKey = .uninteresting
            case UInt8(ascii: "{"), UInt8(ascii: "["):
                depth += 1
                pendingKey = .uninteresting
                index += 1
            case UInt8(ascii: "}"), UInt8(ascii: "]"):
                depth -= 1
                if depth <= 0 { return event }
                index += 1
            case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"):
                if pendingKey == .seq || pendingKey == .id {
                    let end = numberEnd(bytes, from: index)
                    let value = leadingInteger(bytes, from: index, to: end)
                    if pendingKey == .seq { event.seq = value } else { event.id = value }
                    pendingKey = .uninteresting
                    index = end
                    if isComplete(event) { return event }
                } else {
                    index += 1
                }
            default:
                index += 1
            }
        }
        return event
    }

    /// Whether the fields this kind of event needs are all found, so the rest (a join ack's
    /// member list and history, say) need not be read.
    @inline(__always)
    private static func isComplete(_ event: ServerEvent) -> Bool {
        switch event.kind {
        case .newMessage: return event.room != nil && event.seq != nil && event.messageNanos != nil
        case .presence: return true
        case .ack: return event.id != nil && event.seq != nil
        case .error: return event.code != nil && event.id != nil
        case .other, .unknown: return false
        }
    }

    /// The index of the closing quote of a string whose contents start at `from`.
    @inline(__always)
    private static func stringEnd(_ bytes: UnsafeRawBufferPointer, from: Int) -> Int? {
        var position = from
        let base = bytes.baseAddress!
        while position < bytes.count {
            guard let found = memchr(base + position, Int32(quote), bytes.count - position) else { return nil }
            let end = base.distance(to: UnsafeRawPointer(found))
            // Escaped if preceded by an odd number of backslashes.
            var backslashes = 0
            while end - backslashes - 1 >= from, bytes[end - backslashes - 1] == backslash { backslashes += 1 }
            if backslashes % 2 == 0 { return end }
            position = end + 1
        }
        return nil
    }

    @inline(__always)
    private static func numberEnd(_ bytes: UnsafeRawBufferPointer, from: Int) -> Int {
        var end = from
        while end < bytes.count {
            switch bytes[end] {
            case UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "-"), UInt8(ascii: "+"), UInt8(ascii: "."),
                UInt8(ascii: "e"), UInt8(ascii: "E"):
                end += 1
            default:
                return end
            }
        }
        return end
    }

    /// The non-negative integer the bytes start with (unix nanos have 19 digits), or nil if
    /// there is none or it does not fit in an Int64.
    @inline(__always)
    static func leadingInteger(_ bytes: UnsafeRawBufferPointer, from: Int, to end: Int) -> Int64? {
        var value: Int64 = 0
        var position = from
        while position < end {
            let digit = bytes[position] &- UInt8(ascii: "0")
            guard digit < 10 else { break }
            guard value <= (Int64.max - Int64(digit)) / 10 else { return nil }
            value = value * 10 + Int64(digit)
            position += 1
        }
        return position > from ? value : nil
    }

    @inline(__always)
    private static func isSpace(_ byte: UInt8) -> Bool {
        byte == 0x20 || byte == 0x0A || byte == 0x0D || byte == 0x09
    }

    private static func key(_ bytes: UnsafeRawBufferPointer, _ range: Range<Int>, depth: Int, inPayload: Bool) -> Key {
        if depth == 1 {
            if equals(bytes, range, "type") { return .type }
            if equals(bytes, range, "id") { return .id }
            if equals(bytes, range, "payload") { return .payload }
            if equals(bytes, range, "ticket") { return .ticket }
        } else if inPayload {
            if equals(bytes, range, "room") { return .room }
            if equals(bytes, range, "seq") { return .seq }
            if equals(bytes, range, "message") { return .message }
            if equals(bytes, range, "code") { return .code }
            if equals(bytes, range, "members") { return .members }
        }
        return .uninteresting
    }

    private static func kind(_ bytes: UnsafeRawBufferPointer, _ range: Range<Int>) -> ServerEvent.Kind {
        if equals(bytes, range, "new_message") { return .newMessage }
        if equals(bytes, range, "user_joined") || equals(bytes, range, "user_left") { return .presence }
        if equals(bytes, range, "ack") { return .ack }
        if equals(bytes, range, "error") { return .error }
        return .other
    }

    @inline(__always)
    private static func equals(_ bytes: UnsafeRawBufferPointer, _ range: Range<Int>, _ literal: StaticString) -> Bool {
        guard range.count == literal.utf8CodeUnitCount else { return false }
        return memcmp(bytes.baseAddress! + range.lowerBound, literal.utf8Start, range.count) == 0
    }

    /// Compares a scanned range with known bytes (a room name).
    @inline(__always)
    static func equals(_ bytes: UnsafeRawBufferPointer, _ range: Range<Int>, _ other: [UInt8]) -> Bool {
        guard range.count == other.count else { return false }
        return other.withUnsafeBytes { memcmp(bytes.baseAddress! + range.lowerBound, $0.baseAddress!, range.count) == 0 }
    }

    static func string(_ bytes: UnsafeRawBufferPointer, _ range: Range<Int>) -> String {
        String(decoding: UnsafeRawBufferPointer(rebasing: bytes[range]), as: UTF8.self)
    }
}
