/// permessage-deflate (RFC 7692): the configuration and the handshake negotiation.
///
/// Negotiation is a pure function of the client's `Sec-WebSocket-Extensions` offers and the
/// server's configuration, so every rule of RFC 7692 §7.1 is unit-testable; the zlib state
/// that follows lives in `PerMessageDeflate.Inflater` and `PerMessageDeflate.Deflater`.
public enum PerMessageDeflate {
    public static let extensionName = "permessage-deflate"

    /// What the server agrees to. Compression is off unless a `Configuration` is set on
    /// `ConnectionConfiguration.compression`.
    public struct Configuration: Sendable, Equatable {
        /// Largest LZ77 window (base-2 log, 8...15) of the server's compressor; a client may
        /// ask for less with `server_max_window_bits`. Smaller windows use less memory per
        /// connection (zlib allocates about 2^(bits+2) bytes for it).
        public var serverMaxWindowBits: Int
        /// Window asked of clients that offer `client_max_window_bits` (8...15).
        public var clientMaxWindowBits: Int
        /// Always reset the server's compressor after each message, even if the client did
        /// not ask for it (less compression, no history kept between messages).
        public var serverNoContextTakeover: Bool
        /// Ask clients to reset their compressor after each message.
        public var clientNoContextTakeover: Bool
        /// zlib compression level, 1 (fastest) to 9 (smallest); -1 is zlib's default (6).
        public var compressionLevel: Int
        /// zlib memory level, 1...9: the compressor's internal state is 2^(level+9) bytes.
        public var memoryLevel: Int

        public init(
            serverMaxWindowBits: Int = 15,
            clientMaxWindowBits: Int = 15,
            serverNoContextTakeover: Bool = false,
            clientNoContextTakeover: Bool = false,
            compressionLevel: Int = -1,
            memoryLevel: Int = 8
        ) {
            precondition((8...15).contains(serverMaxWindowBits), "serverMaxWindowBits must be 8...15")
            precondition((8...15).contains(clientMaxWindowBits), "clientMaxWindowBits must be 8...15")
            precondition((-1...9).contains(compressionLevel), "compressionLevel must be -1...9")
            precondition((1...9).contains(memoryLevel), "memoryLevel must be 1...9")
            self.serverMaxWindowBits = serverMaxWindowBits
            self.clientMaxWindowBits = clientMaxWindowBits
            self.serverNoContextTakeover = serverNoContextTakeover
            self.clientNoContextTakeover = clientNoContextTakeover
            self.compressionLevel = compressionLevel
            self.memoryLevel = memoryLevel
        }
    }

    /// The agreed parameters: what the server answers in `Sec-WebSocket-Extensions` and how
    /// both ends of this connection compress.
    public struct Parameters: Sendable, Equatable {
        /// The server resets its compressor after every message.
        public var serverNoContextTakeover = false
        /// The client resets its compressor after every message (so the server may reset its
        /// decompressor too).
        public var clientNoContextTakeover = false
        /// The server's window, when limited; nil means 15.
        public var serverMaxWindowBits: Int?
        /// The client's window, when the server answered one.
        public var clientMaxWindowBits: Int?

        public init(
            serverNoContextTakeover: Bool = false,
            clientNoContextTakeover: Bool = false,
            serverMaxWindowBits: Int? = nil,
            clientMaxWindowBits: Int? = nil
        ) {
            self.serverNoContextTakeover = serverNoContextTakeover
            self.clientNoContextTakeover = clientNoContextTakeover
            self.serverMaxWindowBits = serverMaxWindowBits
            self.clientMaxWindowBits = clientMaxWindowBits
        }

        /// The response's `Sec-WebSocket-Extensions` value.
        public var headerValue: String {
            var value = PerMessageDeflate.extensionName
            if serverNoContextTakeover { value += "; server_no_context_takeover" }
            if clientNoContextTakeover { value += "; client_no_context_takeover" }
            if let serverMaxWindowBits { value += "; server_max_window_bits=\(serverMaxWindowBits)" }
            if let clientMaxWindowBits { value += "; client_max_window_bits=\(clientMaxWindowBits)" }
            return value
        }
    }

    /// One `permessage-deflate` offer, validated (RFC 7692 §7.1).
    struct Offer: Equatable {
        var serverNoContextTakeover = false
        var clientNoContextTakeover = false
        var serverMaxWindowBits: Int?
        /// `.some(nil)`: offered without a value (the client supports the parameter).
        var clientMaxWindowBits: Int??

        /// nil if the offer is invalid: an unknown parameter, a duplicate, or a bad value.
        init?(parameters: [(name: String, value: String?)]) {
            var seen = Set<String>()
            for (name, value) in parameters {
                let name = name.lowercased()
                guard seen.insert(name).inserted else { return nil }
                switch name {
                case "server_no_context_takeover":
                    guard value == nil else { return nil }
                    serverNoContextTakeover = true
                case "client_no_context_takeover":
                    guard value == nil else { return nil }
                    clientNoContextTakeover = true
                case "server_max_window_bits":
                    guard let value, let bits = Self.windowBits(value) else { return nil }
                    serverMaxWindowBits = bits
                case "client_max_window_bits":
                    if let value {
                        guard let bits = Self.windowBits(value) else { return nil }
                        clientMaxWindowBits = .some(bits)
                    } else {
                        clientMaxWindowBits = .some(nil)
                    }
                default:
                    return nil
                }
            }
        }

        /// A decimal integer without leading zeroes, 8...15 (§7.1.2.1).
        private static func windowBits(_ text: String) -> Int? {
            guard !text.isEmpty, text.utf8.allSatisfy({ $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") }),
                  text.first != "0", let bits = Int(text), (8...15).contains(bits)
            else { return nil }
            return bits
        }
    }

    /// Picks the first acceptable `permessage-deflate` offer among the client's
    /// `Sec-WebSocket-Extensions` header values (each a comma-separated list) and returns the
    /// parameters to answer with, or nil to decline (then the connection is not compressed).
    public static func negotiate(offers headerValues: [String], configuration: Configuration) -> Parameters? {
        for element in headerValues.flatMap(splitList) {
            guard let (name, parameters) = parseElement(element), name.lowercased() == extensionName,
                  let offer = Offer(parameters: parameters)
            else { continue }
            return accept(offer, configuration: configuration)
        }
        return nil
    }

    static func accept(_ offer: Offer, configuration: Configuration) -> Parameters {
        var agreed = Parameters()
        agreed.serverNoContextTakeover = offer.serverNoContextTakeover || configuration.serverNoContextTakeover
        agreed.clientNoContextTakeover = offer.clientNoContextTakeover || configuration.clientNoContextTakeover
        // §7.1.2.1: the answer must not exceed the offered value; without an offer the
        // server may still announce a smaller window of its own.
        if let offered = offer.serverMaxWindowBits {
            agreed.serverMaxWindowBits = min(offered, configuration.serverMaxWindowBits)
        } else if configuration.serverMaxWindowBits < 15 {
            agreed.serverMaxWindowBits = configuration.serverMaxWindowBits
        }
        // §7.1.2.2: only answered if offered, and then no larger than the offered value.
        if let offered = offer.clientMaxWindowBits {
            let bits = min(offered ?? 15, configuration.clientMaxWindowBits)
            if offered != nil || bits < 15 { agreed.clientMaxWindowBits = bits }
        }
        return agreed
    }

    // MARK: header syntax (RFC 7230 §3.2.6, §7; RFC 6455 §9.1)

    /// Splits a `#element` list on commas outside quoted strings, dropping empty elements.
    static func splitList(_ value: String) -> [Substring] {
        split(value, on: ",")
    }

    /// `name *( ";" param [ "=" ( token / quoted-string ) ] )`; nil if malformed.
    static func parseElement(_ element: Substring) -> (name: String, parameters: [(name: String, value: String?)])? {
        let parts = split(element, on: ";", keepEmpty: true)
        guard let first = parts.first else { return nil }
        let name = first.trimmingOWS()
        guard isToken(name) else { return nil }
        var parameters: [(name: String, value: String?)] = []
        for part in parts.dropFirst() {
            let text = part.trimmingOWS()
            if let equals = text.firstIndex(of: "=") {
                let key = text[..<equals].trimmingOWS()
                var value = text[text.index(after: equals)...].trimmingOWS()
                guard isToken(key) else { return nil }
                if value.first == "\"" {
                    guard let unquoted = unquote(value) else { return nil }
                    value = Substring(unquoted)
                }
                // RFC 6455 §9.1: a quoted value must still be a token once unquoted.
                guard isToken(value) else { return nil }
                parameters.append((String(key), String(value)))
            } else {
                guard isToken(text) else { return nil }
                parameters.append((String(text), nil))
            }
        }
        return (String(name), parameters)
    }

    private static func split<S: StringProtocol>(_ text: S, on separator: Character, keepEmpty: Bool = false) -> [Substring] where S.SubSequence == Substring {
        var parts: [Substring] = []
        var start = text.startIndex
        var index = text.startIndex
        var quoted = false
        var escaped = false
        while index < text.endIndex {
            let character = text[index]
            if escaped {
                escaped = false
            } else if quoted, character == "\\" {
                escaped = true
            } else if character == "\"" {
                quoted.toggle()
            } else if !quoted, character == separator {
                parts.append(text[start..<index])
                start = text.index(after: index)
            }
            index = text.index(after: index)
        }
        parts.append(text[start..<text.endIndex])
        return keepEmpty ? parts : parts.filter { !$0.trimmingOWS().isEmpty }
    }

    private static func unquote(_ text: Substring) -> String? {
        guard text.count >= 2, text.first == "\"", text.last == "\"" else { return nil }
        var result = ""
        var escaped = false
        for character in text.dropFirst().dropLast() {
            if escaped {
                result.append(character)
                escaped = false
            } else if character == "\\" {
                escaped = true
            } else if character == "\"" {
                return nil
            } else {
                result.append(character)
            }
        }
        return escaped ? nil : result
    }

    private static func isToken<S: StringProtocol>(_ text: S) -> Bool {
        !text.isEmpty && text.utf8.allSatisfy { byte in
            switch byte {
            case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "0")...UInt8(ascii: "9"):
                return true
            default:
                return "!#$%&'*+-.^_`|~".utf8.contains(byte)
            }
        }
    }
}

extension StringProtocol where SubSequence == Substring {
    /// Without leading and trailing spaces and tabs (HTTP's optional whitespace).
    fileprivate func trimmingOWS() -> Substring {
        var text = self[...]
        while let first = text.first, first == " " || first == "\t" { text = text.dropFirst() }
        while let last = text.last, last == " " || last == "\t" { text = text.dropLast() }
        return text
    }
}
