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

    /// Whether this snapshot is `previous` with one member appended (what a join does), so
    /// everyone in `previous` is still here, at the same position. Chunks the append did not
    /// touch are still shared storage; the rest are compared member by member.
    func appendsOne(to previous: MemberChunks, isSame: (Member, Member) -> Bool) -> Bool {
        guard count == previous.count + 1 else { return false }
        for index in previous.chunks.indices {
            let before = previous.chunks[index]
            let now = chunks[index]
            let shared = before.withUnsafeBufferPointer { old in now.withUnsafeBufferPointer { $0.baseAddress == old.baseAddress } }
            if shared { continue }
            for position in before.indices where !isSame(before[position], now[position]) { return false }
        }
        return true
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
