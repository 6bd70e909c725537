import NIOConcurrencyHelpers
import NIOCore

/// The hand-off from any thread to one event loop's connections.
///
/// Producers append under a short lock and schedule at most one `execute` per loop pass; the
/// pass writes every queued frame to its connections and then flushes each touched channel
/// once. So a broadcast costs one lock and one task per *event loop*, and a delivery is a
/// `write` of a shared buffer, with no task hop, copy or flush per recipient; several
/// broadcasts to one room in the same pass are one `write` per member. Items for one
/// connection come out in the order they went in, which is what keeps a room's `seq` order.
final class EventLoopOutbox: @unchecked Sendable {
    enum Item {
        case deliver(LoopBoundHandler, OutboundFrame)
        case broadcast(MemberChunks<LoopBoundHandler>, OutboundFrame, room: String, except: ConnectionID?)
        case hold(LoopBoundHandler, room: String)
        case release(LoopBoundHandler, room: String, reply: OutboundFrame?)
        case close(LoopBoundHandler, CloseCode, String)
        case fail(LoopBoundHandler, CloseCode, String)
    }

    let eventLoop: any EventLoop
    /// The loop's pings and ping timeouts (one timer for all its connections).
    let heartbeats: HeartbeatSweep
    /// Runs of broadcasts written as one write per member (for tests and diagnostics).
    var combinedRuns: Int { runs.withLockedValue { $0 } }
    private let runs = NIOLockedValueBox(0)
    private let lock = NIOLock()
    private var queue: [Item] = []
    private var scheduled = false
    // Loop-confined scratch space, reused between passes.
    private var draining: [Item] = []
    private var touched: [WebSocketConnectionHandler] = []

    init(eventLoop: any EventLoop) {
        self.eventLoop = eventLoop
        self.heartbeats = HeartbeatSweep(eventLoop: eventLoop)
    }

    func enqueue(_ item: Item) {
        let schedule = lock.withLock {
            queue.append(item)
            defer { scheduled = true }
            return !scheduled
        }
        if schedule { eventLoop.execute { self.drain() } }
    }

    // A run is one write per member, so it is kept well below the outbound queue's limits
    // (a burst in one pass must not look like a slow consumer) and the flush slices.
    static let maxRunFrames = 64
    static let maxRunBytes = 64 * 1024

    private func broadcastRun(_ members: MemberChunks<LoopBoundHandler>, room: String, items: ArraySlice<Item>) {
        var frames: [OutboundFrame] = []
        frames.reserveCapacity(items.count)
        var size = 0
        for case .broadcast(_, let frame, _, _) in items {
            frames.append(frame)
            size += frame.bytes.readableBytes
        }
        var bytes = ByteBufferAllocator().buffer(capacity: size)
        for frame in frames { bytes.writeImmutableBuffer(frame.bytes) }
        let combined = OutboundFrame(prebuilt: bytes)
        runs.withLockedValue { $0 += 1 }
        for chunk in members.chunks {
            for member in chunk {
                let h = member.onLoop
                if h.deliver(run: frames, combined: combined, room: room) { touched.append(h) }
            }
        }
    }

    private func drain() {
        lock.withLock {
            swap(&queue, &draining)
            scheduled = false
        }
        var index = 0
        while index < draining.count {
            let item = draining[index]
            index += 1
            switch item {
            case .deliver(let handler, let frame):
                let h = handler.onLoop
                if h.deliver(frame, room: nil) { touched.append(h) }
            case .broadcast(let members, let frame, let room, let except):
                // Broadcasts to the same members that arrived together go out as one write
                // per member: the frames are joined once here, not once per member.
                var runEnd = index
                if except == nil {
                    var runBytes = frame.bytes.readableBytes
                    while runEnd < draining.count, runEnd - index < Self.maxRunFrames - 1,
                        case .broadcast(let next, let nextFrame, let nextRoom, nil) = draining[runEnd],
                        nextRoom == room, next.isSameSnapshot(as: members),
                        runBytes + nextFrame.bytes.readableBytes <= Self.maxRunBytes
                    {
                        runBytes += nextFrame.bytes.readableBytes
                        runEnd += 1
                    }
                }
                if runEnd > index {
                    broadcastRun(members, room: room, items: draining[(index - 1)..<runEnd])
                    index = runEnd
                    continue
                }
                for chunk in members.chunks {
                    for member in chunk {
                        let h = member.onLoop
                        if let except, h.connection.id == except { continue }
                        if h.deliver(frame, room: room) { touched.append(h) }
                    }
                }
            case .hold(let handler, let room):
                handler.onLoop.hold(room: room)
            case .release(let handler, let room, let reply):
                let h = handler.onLoop
                if h.release(room: room, reply: reply) { touched.append(h) }
            case .close(let handler, let code, let reason):
                handler.onLoop.requestClose(code, reason: reason)
            case .fail(let handler, let code, let reason):
                handler.onLoop.fail(code, reason: reason)
            }
        }
        draining.removeAll(keepingCapacity: draining.count < 4096)
        for handler in touched { handler.flushIfNeeded() }
        touched.removeAll(keepingCapacity: touched.count < 4096)
    }
}
