/// The rooms one connection is in, as the hub's registry keeps them.
///
/// Nearly every connection is in one room, and every idle connection carries this: the first
/// room is stored inline (a short name needs no allocation at all), the rest in an array only
/// when there is a second. A `Set<String>` here cost 96 bytes per connection.
struct JoinedRooms: Sequence {
    private var first: String?
    private var others: [String] = []

    var isEmpty: Bool { first == nil }

    func contains(_ name: String) -> Bool {
        first == name || others.contains(name)
    }

    /// Adds `name`; false if it was already there.
    @discardableResult
    mutating func insert(_ name: String) -> Bool {
        if contains(name) { return false }
        if first == nil { first = name } else { others.append(name) }
        return true
    }

    /// Removes `name`; false if it was not there.
    @discardableResult
    mutating func remove(_ name: String) -> Bool {
        if first == name {
            first = others.popLast()
        } else if let index = others.firstIndex(of: name) {
            others.remove(at: index)
        } else {
            return false
        }
        if others.isEmpty { others = [] }
        return true
    }

    struct Iterator: IteratorProtocol {
        fileprivate var first: String?
        fileprivate var others: IndexingIterator<[String]>

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
