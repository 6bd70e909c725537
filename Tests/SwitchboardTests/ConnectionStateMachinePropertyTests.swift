import PropertyBased
import Testing
@testable import Switchboard

// Property tests: the rules of ConnectionStateMachine and RoomSequencer checked over
// generated inputs rather than hand-picked ones. A failure prints the (shrunk) input and a
// seed; add `.fixedSeed("…")` to the @Test to replay it.
//
//   swift test --scratch-path .build-fuzzprop --filter PropertyTests

/// One event of `ConnectionStateMachine`, with its argument.
private enum MachineEvent: Sendable, Equatable, CustomStringConvertible {
    case closeFrameReceived(CloseCode?)
    case closeRequested(CloseCode)
    case protocolViolated(CloseCode)
    case outboundOverflowed
    case pingTimedOut
    case closeTimedOut
    case transportFailed
    case transportClosed

    @discardableResult
    func apply(to machine: inout ConnectionStateMachine) -> ConnectionStateMachine.Action {
        switch self {
        case .closeFrameReceived(let code): return machine.closeFrameReceived(code)
        case .closeRequested(let code): return machine.closeRequested(code, reason: "property")
        case .protocolViolated(let code): return machine.protocolViolated(code, reason: "property")
        case .outboundOverflowed: return machine.outboundOverflowed()
        case .pingTimedOut: return machine.pingTimedOut()
        case .closeTimedOut: return machine.closeTimedOut()
        case .transportFailed: return machine.transportFailed()
        case .transportClosed: return machine.transportClosed()
        }
    }

    /// The cleanup code this event decides when it is the first to take the machine out of
    /// `open`, or nil when it leaves `open` alone. Read off ConnectionStateMachine.swift:
    ///
    /// | event (arriving in `open`)   | state after       | cleanup code             |
    /// |------------------------------|-------------------|--------------------------|
    /// | closeFrameReceived(c)        | closed(c ?? 1005) | c as received, else 1005 |
    /// | closeRequested(c)            | closing(c)        | c                        |
    /// | protocolViolated(c)          | closed(c)         | c                        |
    /// | outboundOverflowed           | closed(4008)      | 4008                     |
    /// | pingTimedOut                 | closed(1006)      | 1006                     |
    /// | transportFailed              | closed(1006)      | 1006                     |
    /// | transportClosed              | closed(1006)      | 1006                     |
    /// | closeTimedOut                | open (no-op)      | none: not decisive       |
    ///
    /// Every other event leaves `open` for good and takes cleanup on the way, so whatever
    /// follows finds cleanup already taken: the first decisive event's code is the only one.
    var decisiveCode: CloseCode? {
        switch self {
        case .closeFrameReceived(let code): return code ?? .noStatus
        case .closeRequested(let code), .protocolViolated(let code): return code
        case .outboundOverflowed: return .slowConsumer
        case .pingTimedOut, .transportFailed, .transportClosed: return .abnormal
        case .closeTimedOut: return nil
        }
    }

    var description: String {
        switch self {
        case .closeFrameReceived(let code): return "closeFrameReceived(\(code.map(String.init(describing:)) ?? "nil"))"
        case .closeRequested(let code): return "closeRequested(\(code))"
        case .protocolViolated(let code): return "protocolViolated(\(code))"
        case .outboundOverflowed: return "outboundOverflowed"
        case .pingTimedOut: return "pingTimedOut"
        case .closeTimedOut: return "closeTimedOut"
        case .transportFailed: return "transportFailed"
        case .transportClosed: return "transportClosed"
        }
    }
}

/// Codes worth hitting often: every named code, the edges of the wire-valid ranges, and
/// codes a peer may not send (0, 1004–1006, 1015, 2999, 5000+). Any UInt16 is drawn too.
private let notableCodes: [CloseCode] = [
    .normal, .goingAway, .protocolError, .unsupportedData, .noStatus, .abnormal,
    .invalidPayload, .policyViolation, .messageTooBig, .internalError, .slowConsumer, .flood,
] + [0, 999, 1004, 1012, 1015, 2999, 3000, 4999, 5000, 65535].map { CloseCode(rawValue: $0) }

private let codeGen = zip(Gen.int(in: 0...notableCodes.count), Gen.uint16())
    .map { pick, raw in pick < notableCodes.count ? notableCodes[pick] : CloseCode(rawValue: raw) }

private let eventGen = zip(Gen.int(in: 0...7), codeGen, Gen.bool(0.25)).map { generated -> MachineEvent in
    let (kind, code, noCode) = generated
    switch kind {
    case 0: return .closeFrameReceived(noCode ? nil : code)
    case 1: return .closeRequested(code)
    case 2: return .protocolViolated(code)
    case 3: return .outboundOverflowed
    case 4: return .pingTimedOut
    case 5: return .closeTimedOut
    case 6: return .transportFailed
    default: return .transportClosed
    }
}

/// Up to 16 events: long enough to pass through open, closing and closed with repeats.
private let eventsGen = eventGen.array(of: 0...16)

/// One event as the machine saw it.
private struct Step {
    var event: MachineEvent
    var before: ConnectionStateMachine.State
    var action: ConnectionStateMachine.Action
    var after: ConnectionStateMachine.State
    var acceptsOutboundAfter: Bool
    var acceptsInboundAfter: Bool
    var cleanedUpAfter: Bool
}

private func run(_ events: [MachineEvent]) -> [Step] {
    var machine = ConnectionStateMachine()
    return events.map { event in
        let before = machine.state
        let action = event.apply(to: &machine)
        return Step(
            event: event, before: before, action: action, after: machine.state,
            acceptsOutboundAfter: machine.acceptsOutbound, acceptsInboundAfter: machine.acceptsInbound,
            cleanedUpAfter: machine.cleanedUp
        )
    }
}

private func isClosed(_ state: ConnectionStateMachine.State) -> Bool {
    if case .closed = state { return true } else { return false }
}

private func isClosingOrClosed(_ state: ConnectionStateMachine.State) -> Bool {
    state != .open
}

private let checks = 2_000

@Suite("ConnectionStateMachine properties")
struct ConnectionStateMachinePropertyTests {
    @Test func cleanupAtMostOnceAndExactlyOnceWhenTheTransportCloses() async {
        await propertyCheck(count: checks, input: eventsGen) { events in
            let steps = run(events)
            let cleanups = steps.filter { $0.action.cleanup != nil }.count
            #expect(cleanups <= 1, "cleanup returned \(cleanups) times for \(events)")
            if events.contains(.transportClosed) {
                #expect(cleanups == 1, "transportClosed in \(events) but cleanup returned \(cleanups) times")
            }
            // `cleanedUp` says exactly whether cleanup has been handed out so far.
            var taken = false
            for step in steps {
                taken = taken || step.action.cleanup != nil
                #expect(step.cleanedUpAfter == taken, "cleanedUp is \(step.cleanedUpAfter) after \(step.event) in \(events)")
            }
        }
    }

    /// What a real connection sees: any events, then `channelInactive`.
    @Test func everyConnectionThatEndsIsCleanedUpExactlyOnceAndClosed() async {
        await propertyCheck(count: checks, input: eventsGen) { events in
            let steps = run(events + [.transportClosed])
            #expect(steps.filter { $0.action.cleanup != nil }.count == 1, "\(events) + transportClosed")
            #expect(isClosed(steps.last!.after), "\(events) + transportClosed ends in \(steps.last!.after)")
        }
    }

    @Test func atMostOneCloseFrameAndNoneOnceClosed() async {
        await propertyCheck(count: checks, input: eventsGen) { events in
            let steps = run(events)
            let sent = steps.compactMap(\.action.sendClose)
            #expect(sent.count <= 1, "close frames \(sent) for \(events)")
            for step in steps where isClosed(step.before) {
                #expect(step.action.sendClose == nil, "\(step.event) in \(step.before) sends a close frame; \(events)")
            }
            // The transport is gone after these: a close frame could not be written.
            if let gone = events.firstIndex(where: { $0 == .transportClosed || $0 == .transportFailed || $0 == .pingTimedOut }) {
                for step in steps[(gone + 1)...] {
                    #expect(step.action.sendClose == nil, "\(step.event) after \(events[gone]) sends a close frame; \(events)")
                }
            }
        }
    }

    @Test func closedIsTerminalAndInert() async {
        await propertyCheck(count: checks, input: eventsGen) { events in
            for step in run(events) where isClosed(step.before) {
                #expect(step.after == step.before, "\(step.event) moves \(step.before) to \(step.after); \(events)")
                // Cleanup was taken on the way in; nothing is sent or closed a second time.
                #expect(step.action == .none, "\(step.event) in \(step.before) returns \(step.action); \(events)")
            }
        }
    }

    @Test func acceptsOutboundAndInboundOnlyWhenOpen() async {
        await propertyCheck(count: checks, input: eventsGen) { events in
            for step in run(events) {
                #expect(step.acceptsOutboundAfter == (step.after == .open), "acceptsOutbound \(step.acceptsOutboundAfter) in \(step.after); \(events)")
                #expect(step.acceptsInboundAfter == (step.after == .open), "acceptsInbound \(step.acceptsInboundAfter) in \(step.after); \(events)")
            }
        }
    }

    @Test func closingTheTransportLeavesTheMachineClosingOrClosed() async {
        await propertyCheck(count: checks, input: eventsGen) { events in
            for step in run(events) where step.action.closeTransport != .no {
                #expect(isClosingOrClosed(step.after), "\(step.event) asks \(step.action.closeTransport) but leaves \(step.after); \(events)")
                // Waiting for the peer's answer only makes sense while we are closing.
                if step.action.closeTransport == .afterCloseTimeout {
                    #expect(!isClosed(step.after), "\(step.event) waits for the peer in \(step.after); \(events)")
                }
            }
        }
    }

    @Test func cleanupCodeIsTheFirstDecisiveEventsCode() async {
        await propertyCheck(count: checks, input: eventsGen) { events in
            let steps = run(events)
            guard let first = events.firstIndex(where: { $0.decisiveCode != nil }) else {
                // Only closeTimedOut (or nothing): still open, nothing cleaned up.
                #expect(steps.allSatisfy { $0.action == .none && $0.after == .open }, "\(events)")
                return
            }
            // Cleanup happens on the first decisive event itself, with its code, and never again.
            #expect(steps[first].action.cleanup == events[first].decisiveCode, "first decisive \(events[first]) in \(events)")
            for (index, step) in steps.enumerated() where index != first {
                #expect(step.action.cleanup == nil, "\(step.event) at \(index) also returns cleanup; \(events)")
            }
        }
    }

    /// The peer controls the code it sends; our reply must be one a peer may receive.
    @Test func aPeersCloseIsAnsweredWithAWireValidCode() async {
        await propertyCheck(count: checks, input: codeGen.optional) { code in
            var machine = ConnectionStateMachine()
            let action = machine.closeFrameReceived(code)
            let reply = try #require(action.sendClose)
            #expect(reply.isValidOnWire, "peer sent \(String(describing: code)), we answer \(reply)")
            if let code, code.isValidOnWire { #expect(reply == code) }
            if code == nil { #expect(reply == .normal) }
        }
    }
}

/// A shuffled multiset of `1...n` where every seq appears 1 to 4 times.
///
/// Built from plain generators so shrinking works: `copies[i]` extra copies of `i + 1` and a
/// sort key per item, ties broken by position. Shrinking drives both to zero, so a failure
/// shrinks towards fewer seqs, fewer duplicates and an order closer to ascending.
private let deliveriesGen = zip(
    Gen.int(in: 0...50),
    Gen.int(in: 0...3).array(of: 50),
    Gen.uint8().array(of: 200),
    Gen.int(in: -3...1_000)
).map { generated -> (base: Int, n: Int, feed: [Int]) in
    let (n, copies, keys, base) = generated
    var items: [Int] = []
    for index in 0..<n {
        items += Array(repeating: base + 1 + index, count: 1 + copies[index])
    }
    let feed = items.enumerated()
        .sorted { (keys[$0.offset], $0.offset) < (keys[$1.offset], $1.offset) }
        .map(\.element)
    return (base, n, feed)
}

@Suite("RoomSequencer properties")
struct RoomSequencerPropertyTests {
    @Test func anyOrderWithDuplicatesIsDeliveredExactlyOnceInOrder() async {
        await propertyCheck(count: checks, input: deliveriesGen) { generated in
            let (base, n, feed) = generated
            var sequencer = RoomSequencer<Int>(lastDelivered: base)
            var delivered: [Int] = []
            for seq in feed {
                let ready = sequencer.accept(seq: seq, seq)
                delivered += ready
                // What has come out is always a gap-free run from base + 1.
                #expect(sequencer.lastDelivered == base + delivered.count, "after \(seq) in \(feed)")
            }
            #expect(delivered == Array((base + 1)..<(base + 1 + n)), "fed \(feed) from \(base)")
            #expect(sequencer.lastDelivered == base + n)
            #expect(sequencer.heldCount == 0, "still holding \(sequencer.heldCount) after \(feed)")
        }
    }
}
