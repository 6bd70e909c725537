import NIOCore

/// A value that writes its own JSON straight into a buffer, for the documents on the connect
/// and send path (login answer, join ack, send ack, history page). `JSONEncoder` boxes every
/// value on the way: a join ack with 50 history messages cost 111 µs and 310 allocations
/// through it (issue 14).
///
/// A conforming type that is also `Codable` must write the document `JSONEncoder` writes for
/// it (same keys, `nil` optionals left out): clients decode it with that `Codable`, and
/// whatever does not go through `EventEncoding` still encodes it with `JSONEncoder`.
public protocol JSONWritable {
    func writeJSON(into buffer: inout ByteBuffer)
    /// Roughly how many bytes `writeJSON` writes, so the buffer is allocated once instead of
    /// being grown by doubling (each growth is another allocation and copy).
    var jsonSizeEstimate: Int { get }
}

extension JSONWritable {
    public var jsonSizeEstimate: Int { 256 }

    /// The value as a JSON document in a buffer of its own (an HTTP body, for example).
    public func jsonBuffer(allocator: ByteBufferAllocator = ByteBufferAllocator()) -> ByteBuffer {
        var buffer = allocator.buffer(capacity: jsonSizeEstimate)
        writeJSON(into: &buffer)
        return buffer
    }
}
