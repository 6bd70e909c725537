import NIOCore

extension ByteBuffer {
    /// Writes `string` as a quoted JSON string (RFC 8259 §7), straight into the buffer, so
    /// hot-path events are encoded without an intermediate `Data` or `String`.
    public mutating func writeJSONString(_ string: String) {
        writeInteger(UInt8(ascii: "\""))
        var utf8 = string.utf8
        let fast = utf8.withContiguousStorageIfAvailable { bytes -> Bool in
            writeJSONEscaped(bytes)
            return true
        }
        if fast == nil {
            utf8 = string.utf8
            writeJSONEscaped(Array(utf8))
        }
        writeInteger(UInt8(ascii: "\""))
    }

    private mutating func writeJSONEscaped<Bytes: Collection>(_ bytes: Bytes) where Bytes.Element == UInt8, Bytes.Index == Int {
        var start = bytes.startIndex
        var index = start
        while index < bytes.endIndex {
            let byte = bytes[index]
            if byte >= 0x20, byte != UInt8(ascii: "\""), byte != UInt8(ascii: "\\") {
                index += 1
                continue
            }
            if start < index { writeBytes(bytes[start..<index]) }
            switch byte {
            case UInt8(ascii: "\""): writeStaticString("\\\"")
            case UInt8(ascii: "\\"): writeStaticString("\\\\")
            case 0x0A: writeStaticString("\\n")
            case 0x0D: writeStaticString("\\r")
            case 0x09: writeStaticString("\\t")
            default:
                let hex: [UInt8] = Array("0123456789abcdef".utf8)
                writeStaticString("\\u00")
                writeInteger(hex[Int(byte >> 4)])
                writeInteger(hex[Int(byte & 0x0F)])
            }
            index += 1
            start = index
        }
        if start < bytes.endIndex { writeBytes(bytes[start..<bytes.endIndex]) }
    }
}

extension ByteBuffer {
    /// Writes `value` as a JSON number.
    public mutating func writeJSONNumber(_ value: Int) {
        // Up to 15 digits this is a small string: no allocation.
        writeString(String(value))
    }

    public mutating func writeJSONBool(_ value: Bool) {
        writeStaticString(value ? "true" : "false")
    }

    /// Writes `elements` as a JSON array, each element written by `writeElement`.
    public mutating func writeJSONArray<Elements: Sequence>(
        _ elements: Elements, _ writeElement: (Elements.Element, inout ByteBuffer) -> Void
    ) {
        writeInteger(UInt8(ascii: "["))
        var first = true
        for element in elements {
            if !first { writeInteger(UInt8(ascii: ",")) }
            first = false
            writeElement(element, &self)
        }
        writeInteger(UInt8(ascii: "]"))
    }
}
