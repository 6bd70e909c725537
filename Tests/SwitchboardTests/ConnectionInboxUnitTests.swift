import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOEmbedded
import Testing

@testable import Switchboard

/// The inbox between a connection's read side and its event handlers, without sockets.
@Suite("ConnectionInbox")
struct ConnectionInboxUnitTests {
    /// An inbox whose router records the text of every event it is given, in order.
    private static func makeInbox(buffered: Int) -> (ConnectionInbox, NIOLockedValueBox<[String]>) {
        let loop = EmbeddedEventLoop()
        let seen = NIOLockedValueBox<[String]>([])
        var router = EventRouter()
        router.on("e", as: [String: Int].self, replying: { payload, _ in
            seen.withLockedValue { $0.append("e\(payload["n"] ?? -1)") }
            return .replied
        })
        let hub = Hub()
        let connection = Connection(user: "u", remoteAddress: nil, outbox: EventLoopOutbox(eventLoop: loop))
        let inbox = ConnectionInbox(connection: connection, router: router, hub: hub, logger: Logger(label: "test"), bufferedMessages: buffered)
        return (inbox, seen)
    }

    private static func event(_ n: Int) -> ConnectionInbox.Entry {
        .message(InboundMessage(kind: .text, data: ByteBuffer(string: #"{"type":"e","payload":{"n":\#(n)}}"#)))
    }

    @Test("only the first append of a burst schedules a drain; after the drain empties it, the next one does again")
    func schedulesOncePerBurst() async {
        let (inbox, seen) = Self.makeInbox(buffered: 64)
        #expect(inbox.append(Self.event(1)).schedule)
        #expect(!inbox.append(Self.event(2)).schedule)
        #expect(!inbox.append(Self.event(3)).schedule)
        await inbox.drain()
        #expect(seen.withLockedValue { $0 } == ["e1", "e2", "e3"])
        #expect(inbox.pendingCount == 0)
        #expect(inbox.append(Self.event(4)).schedule)
        await inbox.drain()
        #expect(seen.withLockedValue { $0 } == ["e1", "e2", "e3", "e4"])
    }

    @Test("reading pauses once at the high watermark")
    func pausesAtHighWatermark() {
        let (inbox, _) = Self.makeInbox(buffered: 4)
        let admissions = (1...6).map { inbox.append(Self.event($0)) }
        #expect(admissions.map(\.pauseReading) == [false, false, false, true, false, false])
        #expect(admissions.map(\.schedule) == [true, false, false, false, false, false])
    }

    @Test("events are handled in arrival order, however many arrive while a drain runs")
    func orderUnderConcurrentAppends() async {
        let (inbox, seen) = Self.makeInbox(buffered: 10_000)
        var drains: [Task<Void, Never>] = []
        for n in 1...500 {
            if inbox.append(Self.event(n)).schedule {
                drains.append(Task { await inbox.drain() })
            }
            if n % 50 == 0 { await Task.yield() }
        }
        for drain in drains { await drain.value }
        // A drain that ended before the last append left it to a new one; all are done now.
        if inbox.pendingCount > 0 { await inbox.drain() }
        #expect(seen.withLockedValue { $0 } == (1...500).map { "e\($0)" })
    }
}
