/// One event loop's members of a room, stored in fixed-size chunks.
///
/// A broadcast hands the members to the loop as a snapshot (a copy-on-write value) and the
/// room keeps changing meanwhile. With one flat array, the first join or leave after each
/// broadcast copied the whole array: a join storm or a mass disconnect in a room of N queued
/// N snapshots of ~N members each (a 19,000-member room reached 4.4 GiB). In chunks, a change
/// copies the list of chunks (N / 64 references) and the one or two chunks it touches.
struct MemberChunks<Member: Sendable>: Sendable {
    static var chunkSize: Int { 64 }

    private(set) var chunks: ContiguousArray<ContiguousArray<Member>> = []
    private(set) var count = 0

    var isEmpty: Bool { count == 0 }

    subscript(index: Int) -> Member {
        get { chunks[index / Self.chunkSize][index % Self.chunkSize] }
        set { chunks[index / Self.chunkSize][index % Self.chunkSize] = newValue }
    }

    /// Whether `other` is this very snapshot (the same storage), so the same members in the
    /// same order. A room that changed in between has copied its list of chunks.
    func isSameSnapshot(as other: MemberChunks) -> Bool {
        count == other.count && chunks.withUnsafeBufferPointer { mine in
            other.chunks.withUnsafeBufferPointer { $0.baseAddress == mine.baseAddress }
        }
    }

    mutating func append(_ member: Member) {
        if chunks.isEmpty || chunks[chunks.count - 1].count == Self.chunkSize {
            var chunk = ContiguousArray<Member>()
            chunk.reserveCapacity(Self.chunkSize)
            chunks.append(chunk)
        }
        chunks[chunks.count - 1].append(member)
        count += 1
    }

    /// Removes the member at `index` by moving the last one into its place (order within a
    /// loop does not matter: every member gets every message in the same order).
    mutating func swapRemove(at index: Int) {
        let lastIndex = count - 1
        if index != lastIndex { self[index] = self[lastIndex] }
        chunks[chunks.count - 1].removeLast()
        if chunks[chunks.count - 1].isEmpty { chunks.removeLast() }
        count -= 1
    }
}
