/// When the heap is worth trimming: at most once per tick, and only once connections have
/// come or gone since the last trim. Connect storms and disconnects are what leave freed
/// memory behind; an idle server, or one serving a steady population, has nothing new to
/// give back, and is not made to walk its arenas for nothing.
struct HeapTrimSchedule {
    /// The hub's connections-opened count at the last trim (or start).
    private var openedAtLastTrim: Int
    /// Its open-connection count then.
    private var openAtLastTrim: Int

    init(connectionsOpened: Int, openConnections: Int) {
        openedAtLastTrim = connectionsOpened
        openAtLastTrim = openConnections
    }

    /// Called once per tick with the hub's counts; true means trim now.
    mutating func tick(connectionsOpened: Int, openConnections: Int) -> Bool {
        guard connectionsOpened != openedAtLastTrim || openConnections != openAtLastTrim else { return false }
        openedAtLastTrim = connectionsOpened
        openAtLastTrim = openConnections
        return true
    }
}
