/// The rooms one connection is in, as the hub's registry keeps them.
///
/// Nearly every connection is in one room, and every idle connection carries this: the first
/// room is stored inline (a short name needs no allocation at all), the rest in a set only
/// when there is a second (an empty set shares one static storage). A `Set<String>` for all
/// of them cost 96 bytes per connection. Lookups are O(1) however many rooms: `isMember`
/// runs for every message sent, with the hub's lock held.
struct JoinedRooms: Sequence {
    private var first: String?
    private var others: Set<String> = []

    var isEmpty: Bool { first == nil }

    func contains(_ name: String) -> Bool {
        first == name || (!others.isEmpty && others.contains(name))
    }

    /// Adds `name`; false if it was already there.
    @discardableResult
    mutating func insert(_ name: String) -> Bool {
        if first == nil {
            first = name
            return true
        }
        if first == name { return false }
        return others.insert(name).inserted
    }

    /// Removes `name`; false if it was not there.
    @discardableResult
    mutating func remove(_ name: String) -> Bool {
        if first == name {
            first = others.popFirst()
        } else if others.remove(name) == nil {
            return false
        }
        // An emptied set keeps its storage; a connection back to one room should not.
        if others.isEmpty { others = [] }
        return true
    }

    struct Iterator: IteratorProtocol {
        fileprivate var first: String?
        fileprivate var others: Set<String>.Iterator

        mutating func next() -> String? {
            if let name = first {
                first = nil
                return name
            }
            return others.next()
        }
    }

    func makeIterator() -> Iterator { Iterator(first: first, others: others.makeIterator()) }
}
