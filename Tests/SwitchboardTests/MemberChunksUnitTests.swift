import SwitchboardTestSupport
import Testing

@testable import Switchboard

/// A room's per-loop member list: the same contents as a flat array, and snapshots that the
/// room's later changes never touch.
@Suite("MemberChunks")
struct MemberChunksUnitTests {
    private func flatten(_ members: MemberChunks<Int>) -> [Int] {
        members.chunks.flatMap { $0 }
    }

    @Test("random appends and swap-removals match a flat array, element for element")
    func matchesFlatArray() {
        var rng = XorShiftRNG(seed: 0xC0FF_EE11)
        var members = MemberChunks<Int>()
        var reference: [Int] = []
        for step in 0..<20_000 {
            if reference.isEmpty || Int.random(in: 0..<10, using: &rng) < 6 {
                members.append(step)
                reference.append(step)
            } else {
                let index = Int.random(in: 0..<reference.count, using: &rng)
                members.swapRemove(at: index)
                reference.swapAt(index, reference.count - 1)
                reference.removeLast()
            }
            #expect(members.count == reference.count)
        }
        #expect(flatten(members) == reference)
        #expect(members.chunks.dropLast().allSatisfy { $0.count == MemberChunks<Int>.chunkSize })
    }

    @Test("a snapshot keeps exactly the members it was taken with while the list changes")
    func snapshotsAreStable() {
        var members = MemberChunks<Int>()
        for n in 0..<1000 { members.append(n) }
        let snapshot = members
        var reference = Array(0..<1000)
        for n in 1000..<1100 {
            members.append(n)
            reference.append(n)
        }
        for _ in 0..<500 {
            members.swapRemove(at: 0)
            reference.swapAt(0, reference.count - 1)
            reference.removeLast()
        }
        #expect(flatten(snapshot) == Array(0..<1000))
        #expect(flatten(members) == reference)
    }

    @Test("removing the last member empties the list")
    func removeToEmpty() {
        var members = MemberChunks<Int>()
        members.append(1)
        members.swapRemove(at: 0)
        #expect(members.isEmpty)
        #expect(members.chunks.isEmpty)
    }

    @Test("a snapshot appends one to the one before exactly when a single member was appended in between")
    func appendsOne() {
        var members = MemberChunks<Int>()
        for n in 0..<130 { members.append(n) }
        let before = members
        members.append(130)
        #expect(members.appendsOne(to: before, isSame: ==))
        #expect(!before.appendsOne(to: members, isSame: ==))
        #expect(!members.appendsOne(to: members, isSame: ==))
        members.append(131)
        #expect(!members.appendsOne(to: before, isSame: ==), "two appended")
        // A leave and a join keep the count one up, but someone else is gone.
        var changed = before
        changed.swapRemove(at: 3)
        changed.append(200)
        changed.append(201)
        #expect(changed.count == before.count + 1)
        #expect(!changed.appendsOne(to: before, isSame: ==))
    }
}
