import SwitchboardTestSupport
import Testing
@testable import Switchboard


/// Every event the machine accepts, with a fixed argument where it takes one.
enum StateMachineTestEvent: CaseIterable, Sendable, CustomStringConvertible {
    case closeFrameReceivedNormal
    case closeFrameReceivedNoCode
    case closeRequestedGoingAway
    case protocolViolated
    case outboundOverflowed
    case pingTimedOut
    case closeTimedOut
    case transportFailed
    case transportClosed

    func apply(to machine: inout ConnectionStateMachine) -> ConnectionStateMachine.Action {
        switch self {
        case .closeFrameReceivedNormal: return machine.closeFrameReceived(.normal)
        case .closeFrameReceivedNoCode: return machine.closeFrameReceived(nil)
        case .closeRequestedGoingAway: return machine.closeRequested(.goingAway, reason: "shutdown")
        case .protocolViolated: return machine.protocolViolated(.messageTooBig)
        case .outboundOverflowed: return machine.outboundOverflowed()
        case .pingTimedOut: return machine.pingTimedOut()
        case .closeTimedOut: return machine.closeTimedOut()
        case .transportFailed: return machine.transportFailed()
        case .transportClosed: return machine.transportClosed()
        }
    }

    var description: String {
        switch self {
        case .closeFrameReceivedNormal: return "closeFrameReceived(1000)"
        case .closeFrameReceivedNoCode: return "closeFrameReceived(nil)"
        case .closeRequestedGoingAway: return "closeRequested(1001)"
        case .protocolViolated: return "protocolViolated(1009)"
        case .outboundOverflowed: return "outboundOverflowed"
        case .pingTimedOut: return "pingTimedOut"
        case .closeTimedOut: return "closeTimedOut"
        case .transportFailed: return "transportFailed"
        case .transportClosed: return "transportClosed"
        }
    }
}

private typealias Action = ConnectionStateMachine.Action

/// A machine that asked the peer to close with `code` and waits for the answer.
private func closingMachine(_ code: CloseCode = .flood) -> ConnectionStateMachine {
    var machine = ConnectionStateMachine()
    _ = machine.closeRequested(code, reason: "too fast")
    return machine
}

/// Each way into `closed`, with the code it records.
private let routesToClosed: [(name: String, events: [StateMachineTestEvent], code: CloseCode)] = [
    ("peer close", [.closeFrameReceivedNormal], .normal),
    ("peer close without code", [.closeFrameReceivedNoCode], .noStatus),
    ("handshake completed", [.closeRequestedGoingAway, .closeFrameReceivedNormal], .goingAway),
    ("protocol violated", [.protocolViolated], .messageTooBig),
    ("overflow", [.outboundOverflowed], .slowConsumer),
    ("ping timeout", [.pingTimedOut], .abnormal),
    ("close timeout", [.closeRequestedGoingAway, .closeTimedOut], .goingAway),
    ("transport failed", [.transportFailed], .abnormal),
    ("transport closed", [.transportClosed], .abnormal),
]

@Suite("ConnectionStateMachine")
struct ConnectionStateMachineUnitTests {
    // MARK: open

    @Test func startsOpenAcceptingBothDirections() {
        let machine = ConnectionStateMachine()
        #expect(machine.state == .open)
        #expect(machine.acceptsInbound)
        #expect(machine.acceptsOutbound)
        #expect(!machine.isClosed)
        #expect(!machine.cleanedUp)
    }

    @Test func openPeerCloseIsEchoedAndTransportClosesAfterTheEcho() {
        var machine = ConnectionStateMachine()
        let action = machine.closeFrameReceived(.normal)
        #expect(action == Action(sendClose: .normal, cleanup: .normal, closeTransport: .whenCloseFrameWritten))
        #expect(machine.state == .closed(.normal))
        #expect(machine.isClosed)
        #expect(machine.cleanedUp)
        #expect(!machine.acceptsInbound)
        #expect(!machine.acceptsOutbound)
    }

    @Test(arguments: [CloseCode.goingAway, .policyViolation, .internalError, CloseCode(rawValue: 3000), CloseCode(rawValue: 4999)])
    func openPeerCloseEchoesTheValidCodeItSent(code: CloseCode) {
        var machine = ConnectionStateMachine()
        let action = machine.closeFrameReceived(code)
        #expect(action == Action(sendClose: code, cleanup: code, closeTransport: .whenCloseFrameWritten))
        #expect(machine.state == .closed(code))
    }

    @Test func openPeerCloseWithoutCodeIsAnsweredWith1000AndRecordedAs1005() {
        var machine = ConnectionStateMachine()
        let action = machine.closeFrameReceived(nil)
        #expect(action == Action(sendClose: .normal, cleanup: .noStatus, closeTransport: .whenCloseFrameWritten))
        #expect(machine.state == .closed(.noStatus))
    }

    @Test(arguments: [CloseCode.noStatus, .abnormal, CloseCode(rawValue: 999), CloseCode(rawValue: 1015), CloseCode(rawValue: 5000)])
    func openPeerCloseWithACodeNotAllowedOnTheWireIsAnsweredWith1002(code: CloseCode) {
        var machine = ConnectionStateMachine()
        let action = machine.closeFrameReceived(code)
        #expect(action.sendClose == .protocolError)
        #expect(action.cleanup == code)
        #expect(action.closeTransport == .whenCloseFrameWritten)
        #expect(machine.isClosed)
    }

    @Test func openCloseRequestedSendsCloseCleansUpAndWaitsForThePeer() {
        var machine = ConnectionStateMachine()
        let action = machine.closeRequested(.goingAway, reason: "server restart")
        #expect(action == Action(sendClose: .goingAway, closeReason: "server restart", cleanup: .goingAway, closeTransport: .afterCloseTimeout))
        #expect(machine.state == .closing(.goingAway))
        #expect(!machine.isClosed)
        #expect(machine.cleanedUp)
        #expect(!machine.acceptsInbound)
        #expect(!machine.acceptsOutbound)
    }

    @Test func openProtocolViolationSendsTheCodeAndClosesOnceWritten() {
        var machine = ConnectionStateMachine()
        let action = machine.protocolViolated(.messageTooBig)
        #expect(action == Action(sendClose: .messageTooBig, cleanup: .messageTooBig, closeTransport: .whenCloseFrameWritten))
        #expect(machine.state == .closed(.messageTooBig))
    }

    @Test func openOutboundOverflowQueues4008AndClosesOnceItIsWritten() {
        var machine = ConnectionStateMachine()
        let action = machine.outboundOverflowed()
        #expect(action == Action(sendClose: .slowConsumer, cleanup: .slowConsumer, closeTransport: .whenCloseFrameWritten))
        #expect(machine.state == .closed(.slowConsumer))
    }

    @Test func openPingTimeoutDropsTheTransportWithoutACloseFrame() {
        var machine = ConnectionStateMachine()
        let action = machine.pingTimedOut()
        #expect(action == Action(cleanup: .abnormal, closeTransport: .now))
        #expect(machine.state == .closed(.abnormal))
    }

    @Test func openCloseTimeoutIsIgnored() {
        var machine = ConnectionStateMachine()
        let action = machine.closeTimedOut()
        #expect(action == .none)
        #expect(machine.state == .open)
        #expect(!machine.cleanedUp)
        #expect(machine.acceptsInbound && machine.acceptsOutbound)
    }

    @Test func openTransportFailureCleansUpAndClosesWithoutACloseFrame() {
        var machine = ConnectionStateMachine()
        let action = machine.transportFailed()
        #expect(action == Action(cleanup: .abnormal, closeTransport: .now))
        #expect(machine.state == .closed(.abnormal))
    }

    @Test func openTransportClosedCleansUpAs1006AndHasNothingToClose() {
        var machine = ConnectionStateMachine()
        let action = machine.transportClosed()
        #expect(action == Action(cleanup: .abnormal, closeTransport: .no))
        #expect(machine.state == .closed(.abnormal))
        #expect(machine.cleanedUp)
    }

    // MARK: closing

    @Test func closingPeerAnswerCompletesTheHandshakeWithOurCode() {
        var machine = closingMachine(.flood)
        let action = machine.closeFrameReceived(.normal)
        #expect(action == Action(cleanup: nil, closeTransport: .now))
        #expect(machine.state == .closed(.flood))
    }

    @Test func closingPeerAnswerWithoutCodeStillKeepsOurCode() {
        var machine = closingMachine(.flood)
        let action = machine.closeFrameReceived(nil)
        #expect(action == Action(closeTransport: .now))
        #expect(machine.state == .closed(.flood))
    }

    @Test func closingSecondCloseRequestIsIgnored() {
        var machine = closingMachine(.flood)
        let action = machine.closeRequested(.goingAway, reason: "again")
        #expect(action == .none)
        #expect(machine.state == .closing(.flood))
    }

    @Test func closingProtocolViolationClosesNowWithoutSecondCloseFrame() {
        var machine = closingMachine(.flood)
        let action = machine.protocolViolated(.protocolError)
        #expect(action == Action(closeTransport: .now))
        #expect(machine.state == .closed(.flood))
    }

    @Test func closingOutboundOverflowClosesNowWithoutSecondCloseFrame() {
        var machine = closingMachine(.flood)
        let action = machine.outboundOverflowed()
        #expect(action == Action(closeTransport: .now))
        #expect(machine.state == .closed(.flood))
    }

    @Test func closingPingTimeoutDropsTheTransportAs1006() {
        var machine = closingMachine(.flood)
        let action = machine.pingTimedOut()
        #expect(action == Action(closeTransport: .now))
        #expect(machine.state == .closed(.abnormal))
    }

    @Test func closingCloseTimeoutClosesNowKeepingOurCode() {
        var machine = closingMachine(.flood)
        let action = machine.closeTimedOut()
        #expect(action == Action(closeTransport: .now))
        #expect(machine.state == .closed(.flood))
    }

    @Test func closingTransportFailureClosesNowAs1006() {
        var machine = closingMachine(.flood)
        let action = machine.transportFailed()
        #expect(action == Action(closeTransport: .now))
        #expect(machine.state == .closed(.abnormal))
    }

    @Test func closingTransportClosedKeepsOurCodeAndDoesNotCleanUpAgain() {
        var machine = closingMachine(.flood)
        let action = machine.transportClosed()
        #expect(action == .none)
        #expect(machine.state == .closed(.flood))
    }

    // MARK: closed

    @Test(arguments: 0..<routesToClosed.count, StateMachineTestEvent.allCases)
    func closedIgnoresEveryEvent(route: Int, event: StateMachineTestEvent) {
        let (name, events, code) = routesToClosed[route]
        var machine = ConnectionStateMachine()
        for earlier in events { _ = earlier.apply(to: &machine) }
        #expect(machine.state == .closed(code), "route \(name)")
        let action = event.apply(to: &machine)
        #expect(action == .none, "\(event) after \(name)")
        #expect(machine.state == .closed(code), "\(event) after \(name)")
        #expect(machine.cleanedUp)
    }

    // MARK: repeated and out-of-order sequences

    @Test func closeRequestedTwiceSendsOneCloseFrame() {
        var machine = ConnectionStateMachine()
        let first = machine.closeRequested(.goingAway)
        let second = machine.closeRequested(.normal)
        #expect(first.sendClose == .goingAway)
        #expect(second == .none)
        #expect(machine.state == .closing(.goingAway))
    }

    @Test func transportClosedAfterPeerCloseDoesNotCleanUpAgain() {
        var machine = ConnectionStateMachine()
        let first = machine.closeFrameReceived(.normal)
        let second = machine.transportClosed()
        #expect(first.cleanup == .normal)
        #expect(second == .none)
        #expect(machine.state == .closed(.normal))
    }

    @Test func fullHandshakeWeInitiateThenTransportCloses() {
        var machine = ConnectionStateMachine()
        let actions = [
            machine.closeRequested(.flood, reason: "slow down"),
            machine.closeFrameReceived(.flood),
            machine.closeTimedOut(),  // the timer fires late, after the answer
            machine.transportClosed(),
        ]
        #expect(actions.compactMap(\.sendClose) == [.flood])
        #expect(actions.compactMap(\.cleanup) == [.flood])
        #expect(actions.map(\.closeTransport) == [.afterCloseTimeout, .now, .no, .no])
        #expect(machine.state == .closed(.flood))
    }

    @Test func cleanupIsReturnedByTheFirstFailureWhicheverSideDetectsIt() {
        // The write side overflowing first, then the read side failing.
        var a = ConnectionStateMachine()
        #expect(a.outboundOverflowed().cleanup == .slowConsumer)
        #expect(a.transportFailed().cleanup == nil)
        #expect(a.transportClosed().cleanup == nil)
        // The read side failing first, then the write side overflowing.
        var b = ConnectionStateMachine()
        #expect(b.transportFailed().cleanup == .abnormal)
        #expect(b.outboundOverflowed() == .none)
        #expect(b.transportClosed().cleanup == nil)
    }

    // MARK: randomized sequences

    @Test func randomSequencesCleanUpExactlyOnceAndSendAtMostOneCloseFrame() {
        var rng = XorShiftRNG(seed: 0x5EED_CAFE)
        let codes: [CloseCode] = [.normal, .goingAway, .protocolError, .invalidPayload, .messageTooBig, .slowConsumer, .flood, CloseCode(rawValue: 3001)]
        for iteration in 0..<5_000 {
            var machine = ConnectionStateMachine()
            var cleanups = 0
            var closeFrames = 0
            var sawTransportClosed = false
            var log: [String] = []
            let length = Int.random(in: 1...14, using: &rng)
            for _ in 0..<length {
                let before = machine.state
                let code = codes.randomElement(using: &rng)!
                let action: Action
                switch Int.random(in: 0..<8, using: &rng) {
                case 0:
                    let peer: CloseCode? = Bool.random(using: &rng) ? code : nil
                    action = machine.closeFrameReceived(peer)
                    log.append("closeFrameReceived(\(peer.map(\.description) ?? "nil"))")
                case 1:
                    action = machine.closeRequested(code)
                    log.append("closeRequested(\(code))")
                case 2:
                    action = machine.protocolViolated(code)
                    log.append("protocolViolated(\(code))")
                case 3:
                    action = machine.outboundOverflowed()
                    log.append("outboundOverflowed")
                case 4:
                    action = machine.pingTimedOut()
                    log.append("pingTimedOut")
                case 5:
                    action = machine.closeTimedOut()
                    log.append("closeTimedOut")
                case 6:
                    action = machine.transportFailed()
                    log.append("transportFailed")
                default:
                    action = machine.transportClosed()
                    sawTransportClosed = true
                    log.append("transportClosed")
                }
                let context = Comment(rawValue: "iteration \(iteration): \(log.joined(separator: " → "))")

                if action.cleanup != nil { cleanups += 1 }
                if action.sendClose != nil { closeFrames += 1 }
                #expect(cleanups <= 1, context)
                #expect(closeFrames <= 1, context)
                if case .closed = before {
                    #expect(action.sendClose == nil, context)
                    #expect(action == .none, context)
                    #expect(machine.state == before, context)
                }
                if action.sendClose != nil {
                    #expect(before == .open, context)
                    #expect(action.sendClose!.isValidOnWire, context)
                }
                // Cleanup comes with the very event that ends the open state.
                let leftOpen = before == .open && machine.state != .open
                #expect((action.cleanup != nil) == leftOpen, context)
                #expect(machine.cleanedUp == (machine.state != .open), context)
                if sawTransportClosed {
                    #expect(cleanups == 1, context)
                    #expect(machine.isClosed, context)
                }
            }
        }
    }
}
