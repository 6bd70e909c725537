import NIOConcurrencyHelpers
import NIOCore

/// The hand-off from any thread to one event loop's connections.
///
/// Producers append under a short lock and schedule at most one pass at a time, `coalescing`
/// after the first item; the pass writes every queued frame to its connections and then
/// flushes each touched channel once. So a broadcast costs one lock and one task per *event
/// loop*, and a delivery is a `write` of a shared buffer, with no task hop, copy or flush per
/// recipient; several
/// broadcasts to one room in the same pass (messages, or a join storm's presence events)
/// are one `write` per member. Items for one connection come out in the order they went
/// in, which is what keeps a room's `seq` order.
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
    /// Last in the lock order (hub, room, outbox): `enqueue` is called under the other two
    /// and takes no other lock while holding this one.
    private let lock = NIOLock()
    private var queue: [Item] = []
    private var scheduled = false
    // Loop-confined scratch space, reused between passes.
    private var draining: [Item] = []
    private var touched: [WebSocketConnectionHandler] = []
    /// Numbers this loop's runs, for `WebSocketConnectionHandler.singledOutInRun`.
    private var runNumber: UInt = 0

    /// How long a pass waits after the first item that schedules it (see
    /// `Hub.init(writeCoalescing:)`); zero drains at the loop's next turn.
    let coalescing: TimeAmount

    init(eventLoop: any EventLoop, coalescing: TimeAmount = .zero) {
        self.eventLoop = eventLoop
        self.coalescing = coalescing
        self.heartbeats = HeartbeatSweep(eventLoop: eventLoop)
    }

    func enqueue(_ item: Item) {
        let schedule = lock.withLock {
            queue.append(item)
            defer { scheduled = true }
            return !scheduled
        }
        guard schedule else { return }
        if coalescing > .zero {
            eventLoop.scheduleTask(in: coalescing) { self.drain() }
        } else {
            eventLoop.execute { self.drain() }
        }
    }

    /// Scratch storage kept between passes, in items (see the end of `drain`).
    static let keptCapacity = 4096

    // A run is one write per member, so it is kept well below the outbound queue's limits
    // (a burst in one pass must not look like a slow consumer) and the flush slices.
    static let maxRunFrames = 64
    static let maxRunBytes = 64 * 1024
    // Joins put a hold and a release between their presence broadcasts.
    static let maxRunItems = 3 * maxRunFrames

    /// Where the run that starts with the broadcast at `start` ends (exclusive): the later
    /// broadcasts to the same room whose members are the same, or the same plus one (a join
    /// in between), with the joins' holds and releases and single deliveries (the acks of
    /// the messages broadcast: without them in the run, a pass of k messages was k writes
    /// per member instead of one) among them. `start + 1` if none.
    private func runEnd(from start: Int) -> Int {
        guard case .broadcast(var members, let first, let room, _) = draining[start] else { return start + 1 }
        var frames = 1
        var bytes = first.bytes.readableBytes
        var end = start + 1
        var next = start + 1
        while next < draining.count, next - start < Self.maxRunItems {
            switch draining[next] {
            case .broadcast(let nextMembers, let frame, let nextRoom, _):
                guard nextRoom == room, frames < Self.maxRunFrames, bytes + frame.bytes.readableBytes <= Self.maxRunBytes,
                    nextMembers.isSameSnapshot(as: members) || nextMembers.appendsOne(to: members, isSame: { $0.isSame(as: $1) })
                else { return end }
                members = nextMembers
                frames += 1
                bytes += frame.bytes.readableBytes
                end = next + 1
            case .hold, .release, .deliver:
                break
            case .close, .fail:
                return end
            }
            next += 1
        }
        return end
    }

    /// Writes a run of broadcasts to one room. Members present from the first broadcast on
    /// that nothing in the run singles out get every frame in one write, joined once here.
    /// The others (a joiner, a broadcast's `except`, a connection whose hold, release or
    /// single delivery is in the run) get the run's items replayed for them alone, in order,
    /// frame by frame: the same frames, in the same order, as without the run.
    private func broadcastRun(_ items: ArraySlice<Item>, room: String) {
        runNumber &+= 1
        if runNumber == 0 { runNumber = 1 }
        var frames: [OutboundFrame] = []
        var memberCounts: [Int] = []
        // By `except`, which names a connection, not its handler.
        var singledOut: Set<ConnectionID> = []
        var firstMembers: MemberChunks<LoopBoundHandler>?
        var lastMembers = MemberChunks<LoopBoundHandler>()
        var size = 0
        for item in items {
            switch item {
            case .broadcast(let members, let frame, _, let except):
                if firstMembers == nil { firstMembers = members }
                lastMembers = members
                frames.append(frame)
                memberCounts.append(members.count)
                if let except { singledOut.insert(except) }
                size += frame.bytes.readableBytes
            case .hold(let handler, _), .release(let handler, _, _), .deliver(let handler, _):
                handler.onLoop.singledOutInRun = runNumber
            case .close, .fail:
                break
            }
        }
        var bytes = ByteBufferAllocator().buffer(capacity: size)
        for frame in frames { bytes.writeImmutableBuffer(frame.bytes) }
        let combined = OutboundFrame(prebuilt: bytes)
        runs.withLockedValue { $0 += 1 }

        // Each singled-out member with the index of the first broadcast it is a member for.
        var singles: [(handler: WebSocketConnectionHandler, from: Int)] = []
        let everyone = firstMembers?.count ?? 0
        var position = 0
        members: for chunk in lastMembers.chunks {
            for member in chunk {
                guard position < everyone else { break members }
                position += 1
                let h = member.onLoop
                if h.singledOutInRun == runNumber || (!singledOut.isEmpty && singledOut.contains(h.connection.id)) {
                    singles.append((h, 0))
                } else if h.deliver(run: frames, combined: combined, room: room) {
                    touched.append(h)
                }
            }
        }
        var broadcastIndex = 0
        for joined in everyone..<lastMembers.count {
            while memberCounts[broadcastIndex] <= joined { broadcastIndex += 1 }
            singles.append((lastMembers[joined].onLoop, broadcastIndex))
        }
        broadcastIndex = 0
        for item in items {
            switch item {
            case .broadcast(_, let frame, _, let except):
                for single in singles where single.from <= broadcastIndex && single.handler.connection.id != except {
                    if single.handler.deliver(frame, room: room) { touched.append(single.handler) }
                }
                broadcastIndex += 1
            case .hold(let handler, let heldRoom):
                handler.onLoop.hold(room: heldRoom)
            case .release(let handler, let heldRoom, let reply):
                let h = handler.onLoop
                if h.release(room: heldRoom, reply: reply) { touched.append(h) }
            case .deliver(let handler, let frame):
                let h = handler.onLoop
                if h.deliver(frame, room: nil) { touched.append(h) }
            case .close, .fail:
                break
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
                // Broadcasts to one room that arrived together go out as one write per
                // member: the frames are joined once here, not once per member.
                let end = runEnd(from: index - 1)
                if end > index {
                    broadcastRun(draining[(index - 1)..<end], room: room)
                    index = end
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
        // Storage is kept for the next pass unless the pass was a burst. A pass holds what
        // was enqueued since the one before, and a broadcast is one item per loop whatever
        // the room's size, so only a burst (a join storm: three items per join) reaches
        // thousands of items; keeping its storage would pin MemoryLayout<Item>.stride
        // (72 bytes) per item, per loop, for good. Below 4,096 the storage is reused: at most
        // 288 KiB for each of `queue` and `draining` (they swap) and 32 KiB of `touched`. A
        // larger pass pays one allocation, small next to its thousands of writes.
        draining.removeAll(keepingCapacity: draining.count < Self.keptCapacity)
        for handler in touched { handler.flushIfNeeded() }
        touched.removeAll(keepingCapacity: touched.count < Self.keptCapacity)
    }
}
