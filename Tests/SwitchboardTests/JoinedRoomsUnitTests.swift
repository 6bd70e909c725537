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
}
