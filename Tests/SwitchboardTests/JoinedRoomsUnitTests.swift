import SwitchboardTestSupport
import Testing
@testable import Switchboard

@Suite("JoinedRooms")
struct JoinedRoomsUnitTests {
    @Test("insert, contains and remove behave as a set, whichever room is removed first")
    func behavesAsASet() {
        var rooms = JoinedRooms()
        #expect(rooms.isEmpty)
        let inserts = ["a", "a", "b", "c"].map { rooms.insert($0) }
        #expect(inserts == [true, false, true, true])
        #expect(Set(rooms) == ["a", "b", "c"])
        #expect(Array(rooms).count == 3)
        // Removing the inline first room keeps the others.
        let removedFirst = rooms.remove("a")
        #expect(removedFirst)
        #expect(!rooms.contains("a"))
        #expect(rooms.contains("b") && rooms.contains("c"))
        let removedAgain = rooms.remove("a")
        #expect(!removedAgain)
        let removedLast = rooms.remove("c")
        #expect(removedLast)
        #expect(Array(rooms) == ["b"])
        let removedOnly = rooms.remove("b")
        #expect(removedOnly)
        #expect(rooms.isEmpty)
        #expect(Array(rooms).isEmpty)
        rooms.insert("d")
        #expect(Array(rooms) == ["d"])
    }

    @Test("random inserts and removes over many rooms agree with a Set")
    func agreesWithASetOverManyRooms() {
        var rng = XorShiftRNG(seed: 0x0123_4567)
        var rooms = JoinedRooms()
        var model: Set<String> = []
        for _ in 0..<5_000 {
            let name = "room\(Int.random(in: 0..<300, using: &rng))"
            if Bool.random(using: &rng) {
                #expect(rooms.insert(name) == model.insert(name).inserted)
            } else {
                #expect(rooms.remove(name) == (model.remove(name) != nil))
            }
            #expect(rooms.contains(name) == model.contains(name))
        }
        #expect(Set(rooms) == model)
        #expect(Array(rooms).count == model.count)
        #expect(rooms.isEmpty == model.isEmpty)
    }
}
