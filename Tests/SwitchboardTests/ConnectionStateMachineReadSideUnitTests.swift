import NIOCore
import NIOWebSocket
import Testing
@testable import Switchboard

/// The read side's rules, as transitions of `ConnectionStateMachine` without sockets: which
/// frames are looked at, which messages reach the handlers, how a violation and a flood stop
/// the read side, and inbound backpressure.
@Suite("ConnectionStateMachine read side")
struct ConnectionStateMachineReadSideUnitTests {
    private static let start = NIODeadline.uptimeNanoseconds(1_000_000_000)
    private static let allOpcodes: [WebSocketOpcode] = [.text, .binary, .continuation, .ping, .pong, .connectionClose]

    /// A limiter that allows two events at once, refuses the next two, then calls it a flood (and hardly refills).
    private static let tightLimits = InboundRateLimiter.Limits(eventsPerSecond: 0.001, burst: 2, refusalBurst: 2, offeredRatio: 1.5)

    // MARK: which frames are read

    @Test("open: every frame is looked at")
    func openAdmitsEveryFrame() {
        let machine = ConnectionStateMachine()
        #expect(machine.readsFrames)
        #expect(Self.allOpcodes.allSatisfy { machine.admitsFrame($0) })
    }

    @Test("closing: only the peer's close frame is looked at (RFC 6455 §5.5.1)")
    func closingAdmitsOnlyTheCloseFrame() {
        var machine = ConnectionStateMachine()
        _ = machine.closeRequested(.goingAway)
        #expect(machine.readsFrames)
        #expect(Self.allOpcodes.filter { machine.admitsFrame($0) } == [.connectionClose])
    }

    @Test("closed: no frame is looked at")
    func closedAdmitsNothing() {
        var machine = ConnectionStateMachine()
        _ = machine.closeFrameReceived(.normal)
        #expect(!Self.allOpcodes.contains { machine.admitsFrame($0) })
    }

    // MARK: messages and the rate limiter

    @Test("without a rate limit every message is handed on as allowed")
    func noLimitHandsEverything() {
        var machine = ConnectionStateMachine()
        let actions = (0..<1000).map { _ in machine.messageReceived(at: Self.start) }
        #expect(actions.allSatisfy { $0 == .hand(.allow) })
    }

    @Test("over the rate a message is handed on as refused; past the tolerance the read side stops with a flood, once")
    func floodStopsTheReadSideOnce() {
        var machine = ConnectionStateMachine(rateLimits: Self.tightLimits)
        let actions = (0..<6).map { _ in machine.messageReceived(at: Self.start) }
        #expect(actions == [.hand(.allow), .hand(.allow), .hand(.refuse), .hand(.refuse), .stop(.flood), .drop])
        #expect(machine.readState == .flooded)
        // The connection itself stays open until the 4029 is reached in the inbox.
        #expect(machine.state == .open)
    }

    @Test("after a flood, control frames are still read: the peer's close frame is answered")
    func floodedStillReadsControlFrames() {
        var machine = ConnectionStateMachine(rateLimits: Self.tightLimits)
        for _ in 0..<5 { _ = machine.messageReceived(at: Self.start) }
        #expect(machine.readState == .flooded)
        #expect(machine.admitsFrame(.ping) && machine.admitsFrame(.connectionClose))
        let later = machine.messageReceived(at: Self.start + .seconds(3600))
        #expect(later == .drop)
        let answer = machine.closeFrameReceived(.normal)
        #expect(answer.sendClose == .normal)
    }

    @Test("messages that arrive while closing or closed are dropped, and do not touch the limiter")
    func notOpenDropsMessages() {
        var closing = ConnectionStateMachine(rateLimits: Self.tightLimits)
        _ = closing.closeRequested(.goingAway)
        let whileClosing = (0..<10).map { _ in closing.messageReceived(at: Self.start) }
        #expect(whileClosing.allSatisfy { $0 == .drop })
        #expect(closing.readState == .reading)

        var closed = ConnectionStateMachine()
        _ = closed.pingTimedOut()
        let whileClosed = closed.messageReceived(at: Self.start)
        #expect(whileClosed == .drop)
    }

    // MARK: protocol violations

    @Test("a violation is two steps: it stops all reading and waits behind the handed messages; the connection stays open meanwhile")
    func violationIsQueuedBehindEarlierMessages() {
        var machine = ConnectionStateMachine()
        let before = machine.messageReceived(at: Self.start)
        #expect(before == .hand(.allow))
        let action = machine.violationFound(.invalidPayload, reason: "bad UTF-8")
        #expect(action == .queueWithBackstop(.violation(.invalidPayload, reason: "bad UTF-8")))
        #expect(machine.readState == .violated(.invalidPayload))
        #expect(!machine.readsFrames)
        #expect(!Self.allOpcodes.contains { machine.admitsFrame($0) })
        let after = machine.messageReceived(at: Self.start)
        #expect(after == .drop)
        // Replies to the earlier message are still written: the close path has not moved.
        #expect(machine.state == .open && machine.acceptsOutbound)
        // The second step, when the inbox's drain reaches the stop (or the backstop fires).
        let fail = machine.protocolViolated(.invalidPayload, reason: "bad UTF-8")
        #expect(fail.sendClose == .invalidPayload && fail.cleanup == .invalidPayload)
    }

    @Test("only the first violation counts")
    func secondViolationIsIgnored() {
        var machine = ConnectionStateMachine()
        _ = machine.violationFound(.protocolError, reason: "first")
        let second = machine.violationFound(.messageTooBig, reason: "second")
        #expect(second == .none)
        #expect(machine.readState == .violated(.protocolError))
    }

    @Test("echo mode has no handlers to wait for: a violation fails the connection at once")
    func echoModeFailsAtOnce() {
        var machine = ConnectionStateMachine(violationsWaitForHandlers: false)
        let action = machine.violationFound(.protocolError, reason: "unmasked")
        #expect(action == .failNow(.protocolError, reason: "unmasked"))
    }

    @Test("a violation after a flood still fails the connection (its close comes after the 4029 in the inbox)")
    func violationAfterFlood() {
        var machine = ConnectionStateMachine(rateLimits: Self.tightLimits)
        for _ in 0..<5 { _ = machine.messageReceived(at: Self.start) }
        let action = machine.violationFound(.protocolError, reason: "x")
        #expect(action == .queueWithBackstop(.violation(.protocolError, reason: "x")))
        #expect(!machine.readsFrames)
    }

    @Test("a violation while closing stops reading but queues nothing: the close timer ends the connection")
    func violationWhileClosing() {
        var machine = ConnectionStateMachine()
        _ = machine.closeRequested(.goingAway)
        let action = machine.violationFound(.protocolError, reason: "x")
        #expect(action == .none)
        #expect(!machine.readsFrames)
        let timeout = machine.closeTimedOut()
        #expect(timeout.closeTransport == .now)
    }

    // MARK: inbound backpressure

    @Test("reads flow until the inbox fills; then NIO's read is held back, and issued once when the inbox drains")
    func readIsHeldBackAndIssuedOnce() {
        var machine = ConnectionStateMachine()
        let flowing = machine.readRequested()
        #expect(flowing)
        machine.inboxFilled()
        #expect(machine.inboundFlow == .paused)
        let whilePaused = [machine.readRequested(), machine.readRequested()]
        #expect(whilePaused == [false, false])
        #expect(machine.inboundFlow == .pausedReadHeldBack)
        let resume = machine.inboxDrained()
        #expect(resume)
        #expect(machine.inboundFlow == .flowing)
        let secondResume = machine.inboxDrained()
        #expect(!secondResume, "a second resume issues no second read")
        let again = machine.readRequested()
        #expect(again)
    }

    @Test("a drain before NIO asked to read resumes without issuing a read")
    func drainWithoutHeldBackRead() {
        var machine = ConnectionStateMachine()
        machine.inboxFilled()
        machine.inboxFilled()
        #expect(machine.inboundFlow == .paused)
        let resume = machine.inboxDrained()
        #expect(!resume)
        #expect(machine.inboundFlow == .flowing)
    }

    // MARK: heartbeat

    private static func heartbeatMachine() -> ConnectionStateMachine {
        ConnectionStateMachine(heartbeat: .init(interval: .seconds(20), timeout: .seconds(40)), openedAt: start)
    }

    @Test("a ping every interval while the peer shows signs of life; dropped without a close frame once silent for the timeout")
    func pingsThenTimeout() {
        var machine = Self.heartbeatMachine()
        let early = machine.heartbeatTick(at: Self.start + .seconds(19))
        let first = machine.heartbeatTick(at: Self.start + .seconds(20))
        let notYet = machine.heartbeatTick(at: Self.start + .seconds(30))
        machine.bytesArrived(at: Self.start + .seconds(30), peerIsReading: true)
        let second = machine.heartbeatTick(at: Self.start + .seconds(40))
        let alive = machine.heartbeatTick(at: Self.start + .seconds(69))
        let dropped = machine.heartbeatTick(at: Self.start + .seconds(70))
        #expect([early, first, notYet, second] == [.none, .sendPing, .none, .sendPing])
        #expect(alive == .sendPing || alive == .none)
        #expect(dropped == .drop(ConnectionStateMachine.Action(cleanup: .abnormal, closeTransport: .now)))
        let afterwards = machine.heartbeatTick(at: Self.start + .seconds(100))
        #expect(afterwards == .none)
    }

    @Test("bytes from a peer that does not read what it is sent are no sign of life")
    func writingWithoutReadingIsNoSignOfLife() {
        var machine = Self.heartbeatMachine()
        for second in stride(from: 1, through: 39, by: 1) {
            machine.bytesArrived(at: Self.start + .seconds(Int64(second)), peerIsReading: false)
        }
        #expect(machine.lastSignOfLife == Self.start)
        let tick = machine.heartbeatTick(at: Self.start + .seconds(40))
        #expect(tick == .drop(ConnectionStateMachine.Action(cleanup: .abnormal, closeTransport: .now)))
    }

    @Test("no ping after our close frame")
    func noPingWhileClosing() {
        var machine = Self.heartbeatMachine()
        _ = machine.closeRequested(.goingAway)
        let tick = machine.heartbeatTick(at: Self.start + .seconds(20))
        #expect(tick == .none)
    }
}

