import NIOCore

// The wire types of the connect and send path write themselves. The conformances live in the
// module that declares `JSONWritable`, so they are not retroactive (SE-0364): in SwitchboardChat
// both type and protocol would be imported. The compiler would not warn there, as SwiftPM gives
// a package's modules one package name, but two modules could then declare the conformance and
// clash at run time. Here it holds wherever these types go through `EventEncoding`.
// SwitchboardProtocol itself cannot hold them: it stays free of NIO, since clients share it.
//
// Each writes the keys its synthesized `Encodable` writes, in declaration order, and leaves a
// nil optional out as `JSONEncoder` does (JSONWritableUnitTests compare the two).
// The size estimates count the keys, quotes and 20-digit numbers: a document without escapes
// fits, so its frame is allocated once.

extension EventID: JSONWritable {
    public func writeJSON(into buffer: inout ByteBuffer) {
        switch self {
        case .int(let value): buffer.writeJSONNumber(value)
        case .string(let value): buffer.writeJSONString(value)
        }
    }

    public var jsonSizeEstimate: Int {
        switch self {
        case .int: 20
        case .string(let value): 2 + value.utf8.count
        }
    }
}

extension NewMessage: JSONWritable {
    public func writeJSON(into buffer: inout ByteBuffer) {
        buffer.writeStaticString(#"{"room":"#)
        buffer.writeJSONString(room)
        buffer.writeStaticString(#","from":"#)
        buffer.writeJSONString(from)
        buffer.writeStaticString(#","message":"#)
        buffer.writeJSONString(message)
        buffer.writeStaticString(#","sent":"#)
        buffer.writeJSONString(sent)
        buffer.writeStaticString(#","seq":"#)
        buffer.writeJSONNumber(seq)
        buffer.writeStaticString("}")
    }

    public var jsonSizeEstimate: Int {
        72 + room.utf8.count + from.utf8.count + message.utf8.count + sent.utf8.count
    }
}

extension JoinAck: JSONWritable {
    public func writeJSON(into buffer: inout ByteBuffer) {
        buffer.writeStaticString(#"{"room":"#)
        buffer.writeJSONString(room)
        buffer.writeStaticString(#","members":"#)
        buffer.writeJSONArray(members) { member, buffer in buffer.writeJSONString(member) }
        buffer.writeStaticString(#","seq":"#)
        buffer.writeJSONNumber(seq)
        buffer.writeStaticString(#","epoch":"#)
        buffer.writeJSONString(epoch)
        buffer.writeStaticString(#","history":"#)
        buffer.writeJSONArray(history) { entry, buffer in entry.writeJSON(into: &buffer) }
        buffer.writeStaticString(#","more":"#)
        buffer.writeJSONBool(more)
        if let recovered {
            buffer.writeStaticString(#","recovered":"#)
            buffer.writeJSONBool(recovered)
        }
        buffer.writeStaticString("}")
    }

    public var jsonSizeEstimate: Int {
        var size = 112 + room.utf8.count + epoch.utf8.count
        for member in members { size += 3 + member.utf8.count }
        for entry in history { size += 1 + entry.jsonSizeEstimate }
        return size
    }
}

extension SendAck: JSONWritable {
    public func writeJSON(into buffer: inout ByteBuffer) {
        buffer.writeStaticString(#"{"room":"#)
        buffer.writeJSONString(room)
        buffer.writeStaticString(#","seq":"#)
        buffer.writeJSONNumber(seq)
        buffer.writeStaticString("}")
    }

    public var jsonSizeEstimate: Int { 40 + room.utf8.count }
}

extension HistoryAck: JSONWritable {
    public func writeJSON(into buffer: inout ByteBuffer) {
        buffer.writeStaticString(#"{"room":"#)
        buffer.writeJSONString(room)
        buffer.writeStaticString(#","epoch":"#)
        buffer.writeJSONString(epoch)
        buffer.writeStaticString(#","messages":"#)
        buffer.writeJSONArray(messages) { entry, buffer in entry.writeJSON(into: &buffer) }
        buffer.writeStaticString(#","more":"#)
        buffer.writeJSONBool(more)
        buffer.writeStaticString("}")
    }

    public var jsonSizeEstimate: Int {
        var size = 64 + room.utf8.count + epoch.utf8.count
        for entry in messages { size += 1 + entry.jsonSizeEstimate }
        return size
    }
}

extension ErrorPayload: JSONWritable {
    public func writeJSON(into buffer: inout ByteBuffer) {
        buffer.writeStaticString(#"{"code":"#)
        buffer.writeJSONString(code.rawValue)
        buffer.writeStaticString(#","message":"#)
        buffer.writeJSONString(message)
        buffer.writeStaticString("}")
    }

    public var jsonSizeEstimate: Int { 32 + code.rawValue.utf8.count + message.utf8.count }
}

extension LoginResponse: JSONWritable {
    public func writeJSON(into buffer: inout ByteBuffer) {
        buffer.writeStaticString(#"{"ticket":"#)
        buffer.writeJSONString(ticket)
        buffer.writeStaticString(#","expires_in":"#)
        buffer.writeJSONNumber(expiresIn)
        buffer.writeStaticString(#","user":"#)
        buffer.writeJSONString(user)
        buffer.writeStaticString("}")
    }

    public var jsonSizeEstimate: Int { 64 + ticket.utf8.count + user.utf8.count }
}
