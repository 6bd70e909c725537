import Testing
@testable import Switchboard

@Suite("JoinedRooms")
struct JoinedRoomsUnitTests {
    @Test("insert, contains and remove behave as a set, whichever room is removed first")
    func behavesAsASet() {
        var rooms = JoinedRooms()
        #expect(rooms.isEmpty)
        #expect(rooms.insert("a"))
        #expect(!rooms.insert("a"))
        #expect(rooms.insert("b"))
        #expect(rooms.insert("c"))
        #expect(Set(rooms) == ["a", "b", "c"])
        #expect(Array(rooms).count == 3)
        // Removing the inline first room keeps the others.
        #expect(rooms.remove("a"))
        #expect(!rooms.contains("a"))
        #expect(rooms.contains("b") && rooms.contains("c"))
        #expect(!rooms.remove("a"))
        #expect(rooms.remove("c"))
        #expect(Array(rooms) == ["b"])
        #expect(rooms.remove("b"))
        #expect(rooms.isEmpty)
        #expect(Array(rooms).isEmpty)
        #expect(rooms.insert("d"))
        #expect(Array(rooms) == ["d"])
    }
}
