/// Name rules of PROTOCOL.md, checked by hand on bytes (no regex engine on the hot path).
enum Validation {
    /// `^[A-Za-z0-9_.-]{1,32}$`
    static func isValidUsername(_ name: String) -> Bool { isValidName(name, maxLength: 32) }

    /// `^[A-Za-z0-9_.-]{1,64}$`
    static func isValidRoom(_ name: String) -> Bool { isValidName(name, maxLength: 64) }

    /// `^[A-Za-z0-9_-]{1,64}$`
    static func isValidIdempotencyKey(_ key: String) -> Bool { isValidName(key, maxLength: 64, allowingDot: false) }

    /// Non-empty, at most 4096 characters (Unicode scalars, as the reference peers count).
    static func isValidMessage(_ text: String) -> Bool {
        guard !text.isEmpty else { return false }
        var count = 0
        for _ in text.unicodeScalars {
            count += 1
            if count > 4096 { return false }
        }
        return true
    }

    private static func isValidName(_ name: String, maxLength: Int, allowingDot: Bool = true) -> Bool {
        let utf8 = name.utf8
        guard !utf8.isEmpty, utf8.count <= maxLength else { return false }
        return utf8.allSatisfy { byte in
            switch byte {
            case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"),
                UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "_"), UInt8(ascii: "-"):
                return true
            case UInt8(ascii: "."):
                return allowingDot
            default:
                return false
            }
        }
    }
}
