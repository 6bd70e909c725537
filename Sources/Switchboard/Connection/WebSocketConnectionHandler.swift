import Logging
import NIOCore
import NIOWebSocket

/// The NIO side of one connection: its read side (socket bytes → frames → messages) and its
/// single writer (everything written to the socket goes through here, on the channel's event
/// loop, as whole prebuilt frames).
///
/// It decides nothing itself: framing goes to `WebSocketFrameParser`, protocol events to
/// `InboundMessageAssembler`, lifecycle events to `ConnectionStateMachine`, and this type
/// performs the actions they return. It is the only handler after the socket, so its writes
/// go straight to the channel.
final class WebSocketConnectionHandler: ChannelDuplexHandler {
    typealias InboundIn = ByteBuffer
    // Outbound, this handler only acts on `read` (to pause reading).
    typealias OutboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    let connection: Connection
    private let hub: Hub
    // Only the settings used after set-up, not the whole configuration: every idle
    // connection carries these.
    private let closeTimeout: TimeAmount
    private let maxQueuedMessages: Int
    private let logger: Logger

    /// The connection's lifecycle, read side included: this handler asks it what to do and
    /// does that, nothing more.
    private var state: ConnectionStateMachine
    private var parser: WebSocketFrameParser
    private var assembler: InboundMessageAssembler
    private var queue: OutboundQueueAccounting
    private var context: ChannelHandlerContext?
    /// This connection's place in its loop's `HeartbeatSweep`, while it is in it.
    var heartbeatSlot: Int?
    /// The outbox run (its number) that singles this connection out, so the run can tell
    /// while passing over its members without a set lookup (the handler is touched anyway).
    var singledOutInRun: UInt = 0
    private var closeTimer: Scheduled<Void>?
    /// Rooms being joined: their deliveries wait here until the join's reply is sent, so the
    /// reply (with its history) always comes before the room's live messages.
    private var heldRooms: [String: [OutboundFrame]] = [:]
    /// Set when permessage-deflate was negotiated: every data frame is compressed on its way
    /// out, by this connection's own compressor.
    private let deflater: PerMessageDeflate.Deflater?
    /// Where complete messages go: to the event handlers (`.events`), or straight back to
    /// the peer (`.echo`, on the event loop, for conformance suites).
    private let inbox: ConnectionInbox?

    init(
        connection: Connection, hub: Hub, configuration: ConnectionConfiguration, maxFrameSize: Int, logger: Logger,
        inbox: ConnectionInbox?,
        compression: (inflater: PerMessageDeflate.Inflater, deflater: PerMessageDeflate.Deflater)? = nil
    ) {
        self.connection = connection
        self.inbox = inbox
        self.hub = hub
        self.parser = WebSocketFrameParser(maxFrameSize: maxFrameSize)
        self.closeTimeout = configuration.closeTimeout
        self.maxQueuedMessages = configuration.maxQueuedMessages
        self.logger = logger
        self.deflater = compression?.deflater
        self.assembler = InboundMessageAssembler(maxMessageSize: configuration.maxInboundMessageSize, inflater: compression?.inflater)
        self.state = ConnectionStateMachine(
            rateLimits: configuration.rateLimit, violationsWaitForHandlers: inbox != nil,
            heartbeat: .init(interval: configuration.pingInterval, timeout: configuration.effectivePingTimeout)
        )
        self.queue = OutboundQueueAccounting(
            maxMessages: configuration.maxQueuedMessages,
            maxBytes: configuration.maxQueuedBytes
        )
    }

    // MARK: lifecycle

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
        connection.outbox.heartbeats.add(self, interval: state.heartbeat.interval, timeout: state.heartbeat.timeout)
        logger.info("connection open", metadata: connection.logMetadata)
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        stopTimers()
        connection.detach()
        self.context = nil
    }

    func channelInactive(context: ChannelHandlerContext) {
        perform(state.transportClosed())
        stopTimers()
        hub.transportClosed(connection)
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        logger.debug("transport failed", metadata: connection.logMetadata.merging(["error": "\(error)"]) { $1 })
        perform(state.transportFailed())
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if event is ChannelShouldQuiesceEvent {
            // Through the outbox, so the close frame comes after what is already queued.
            connection.close(.goingAway, reason: "server shutting down")
        } else if case ChannelEvent.inputClosed = event {
            // The peer ended its side of the TCP connection (half-closure is on for HTTP):
            // with no close frame first that is an abnormal end, after ours it completes
            // the closing handshake. Either way nothing more can be read: close.
            perform(state.transportClosed())
            context.close(promise: nil)
        } else {
            context.fireUserInboundEventTriggered(event)
        }
    }

    // MARK: read side

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard state.readsFrames else { return }
        let now = NIODeadline.now()
        state.bytesArrived(at: now, peerIsReading: context.channel.isWritable)
        parser.append(unwrapInboundIn(data))
        do {
            while state.readsFrames, let frame = try parser.next() {
                receive(frame, at: now, context: context)
            }
        } catch {
            // The parser refused the bytes; the state machine stops all reading. A fresh
            // parser lets go of the buffered bytes.
            parser = WebSocketFrameParser(maxFrameSize: parser.maxFrameSize)
            let code: CloseCode = error as? NIOWebSocketError == .invalidFrameLength ? .messageTooBig : .protocolError
            violation(context: context, code, "\(error)")
        }
    }

    private func receive(_ frame: WebSocketFrame, at now: NIODeadline, context: ChannelHandlerContext) {
        guard state.admitsFrame(frame.opcode) else { return }
        switch assembler.receive(frame) {
        case .none, .pong:
            break
        case .message(let kind, let bytes):
            switch state.messageReceived(at: now) {
            case .drop:
                break
            case .hand(let verdict):
                hand(.message(InboundMessage(kind: kind == .text ? .text : .binary, data: bytes, verdict: verdict)), context: context)
            case .stop(let stop):
                logger.info("flood", metadata: connection.logMetadata)
                hand(.stop(stop), context: context)
            }
        case .ping(let payload):
            // Flushed once per read burst, in `channelReadComplete`.
            writeControl(.frame(opcode: .pong, payload: payload, allocator: context.channel.allocator))
        case .close(let code):
            perform(state.closeFrameReceived(code))
        case .violation(let code, let reason):
            violation(context: context, code, reason)
        }
    }

    private func violation(context: ChannelHandlerContext, _ code: CloseCode, _ reason: String) {
        let action = state.violationFound(code, reason: reason)
        guard action != .none else { return }
        logger.debug("protocol violation", metadata: connection.logMetadata.merging(["reason": "\(reason)", "code": "\(code)"]) { $1 })
        switch action {
        case .none:
            return
        case .failNow:
            fail(code, reason: reason)
        case .queueWithBackstop(let stop):
            hand(.stop(stop), context: context)
            scheduleCloseTimer(context) { $0.fail(code, reason: reason) }
        }
    }

    /// Passes an entry on: to the inbox (and the dispatcher, if no handler task is draining
    /// it), or, in echo mode, a message straight back to the peer.
    private func hand(_ entry: ConnectionInbox.Entry, context: ChannelHandlerContext) {
        guard let inbox else {
            guard case .message(let message) = entry else { return }
            let opcode: WebSocketOpcode = message.kind == .binary ? .binary : .text
            // Flushed once per read burst, in `channelReadComplete`.
            deliver(.frame(opcode: opcode, payload: message.data, allocator: context.channel.allocator), room: nil)
            return
        }
        let admission = inbox.append(entry)
        if admission.pauseReading { state.inboxFilled() }
        if admission.schedule { hub.dispatcher.schedule(inbox) }
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        // Echoes and pongs written during the read burst go out in one flush.
        flushIfNeeded()
        context.fireChannelReadComplete()
    }

    func read(context: ChannelHandlerContext) {
        if state.readRequested() { context.read() }
    }

    /// Events waiting for the handlers, and whether reading is held back (for tests).
    var inboxBacklog: Int { inbox?.pendingCount ?? 0 }
    var isReadingPaused: Bool { state.inboundFlow != .flowing }

    /// The handlers caught up with the inbox: read the socket again.
    func resumeReading() {
        if state.inboxDrained(), let context { context.read() }
    }

    /// Fails the connection (RFC 6455 §7.1.7): close frame, then the transport.
    func fail(_ code: CloseCode, reason: String) {
        flushIfNeeded()
        perform(state.protocolViolated(code, reason: reason))
    }

    /// Called by the loop's `HeartbeatSweep`: drops a peer silent for the ping timeout, and
    /// pings when a ping is due.
    func heartbeatTick(now: NIODeadline) {
        guard let context else { return }
        switch state.heartbeatTick(at: now) {
        case .none:
            break
        case .sendPing:
            writeControl(.frame(opcode: .ping, payload: ByteBuffer(), allocator: context.channel.allocator))
            flushIfNeeded()
        case .drop(let action):
            logger.debug("ping timeout", metadata: connection.logMetadata)
            perform(action)
        }
    }

    // MARK: write side (called on the event loop by the outbox)

    /// Queues one frame; returns true if this is the first write since the last flush, so the
    /// outbox knows to flush this channel at the end of its pass.
    @discardableResult
    func deliver(_ frame: OutboundFrame, room: String?) -> Bool {
        deliver(frame, room: room, messages: 1)
    }

    /// Queues a run of one room's frames that the outbox found back to back in one pass:
    /// `combined` is their bytes end to end, written once instead of once per frame. A
    /// compressing connection (each frame is compressed on its own) or one still joining the
    /// room (held frames are kept one by one) takes the frames singly.
    @discardableResult
    func deliver(run frames: [OutboundFrame], combined: OutboundFrame, room: String) -> Bool {
        if deflater != nil || (!heldRooms.isEmpty && heldRooms[room] != nil) {
            var first = false
            for frame in frames { first = deliver(frame, room: room, messages: 1) || first }
            return first
        }
        return deliver(combined, room: room, messages: frames.count)
    }

    private func deliver(_ frame: OutboundFrame, room: String?, messages: Int) -> Bool {
        guard state.acceptsOutbound, let writeContext = self.context else { return false }
        if let room, !heldRooms.isEmpty, heldRooms[room] != nil {
            heldRooms[room]!.append(frame)
            if heldRooms[room]!.count > maxQueuedMessages { perform(state.outboundOverflowed()) }
            return false
        }
        var frame = frame
        if let deflater, let compressed = deflater.compress(frame, allocator: writeContext.channel.allocator) {
            frame = compressed
        }
        let size = frame.bytes.readableBytes
        guard admit(size: size, messages: messages, context: writeContext) else { return false }
        let first = queue.unflushedMessages == 0
        writeContext.write(NIOAny(frame.bytes), promise: nil)
        queue.enqueued(bytes: size, messages: messages)
        // A long pass (a burst of broadcasts) is flushed in slices: one writev carries at
        // most this much, and the queue numbers keep measuring the peer, not the burst.
        if queue.unflushedMessages >= Self.flushSliceMessages || queue.unflushedBytes >= Self.flushSliceBytes {
            flushIfNeeded()
        }
        return first
    }

    /// Unflushed writes count against the queue limits like pending ones (the kernel has not
    /// seen them yet), so a pass that wrote a whole burst before flushing would drop a reader
    /// that keeps up perfectly. A slice is small against the default limits (1/32 of 4,096
    /// messages, 1/16 of 4 MiB), so no burst overshoots them by itself, and large enough that
    /// one writev still carries many frames (NIO gathers up to 1,024 per call).
    static let flushSliceMessages = 128
    static let flushSliceBytes = 256 * 1024

    func flushIfNeeded() {
        guard queue.unflushedMessages > 0, let writeContext = self.context else { return }
        writeContext.flush()
        queue.flushed(stillPending: pendingBytes(writeContext))
    }

    func hold(room: String) {
        if heldRooms[room] == nil { heldRooms[room] = [] }
    }

    /// Sends the join's reply, then what arrived for the room meanwhile, in order.
    /// Returns true if something was written and the channel needs a flush.
    func release(room: String, reply: OutboundFrame?) -> Bool {
        let held = heldRooms.removeValue(forKey: room) ?? []
        // An emptied dictionary keeps its storage; an idle connection should not.
        if heldRooms.isEmpty { heldRooms = [:] }
        var wrote = false
        if let reply { wrote = deliver(reply, room: nil) || wrote }
        for frame in held { wrote = deliver(frame, room: nil) || wrote }
        return wrote || queue.unflushedMessages > 0
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        if let writeContext = self.context { queue.observe(pendingBytes: pendingBytes(writeContext)) }
        context.fireChannelWritabilityChanged()
    }

    /// Closes politely: the close frame goes after everything already queued.
    func requestClose(_ code: CloseCode, reason: String = "") {
        flushIfNeeded()
        perform(state.closeRequested(code, reason: reason))
    }

    private func pendingBytes(_ context: ChannelHandlerContext) -> Int {
        (try? context.channel.syncOptions?.getOption(ChannelOptions.bufferedWritableBytes)) ?? 0
    }

    /// Whether `messages` more messages of `size` bytes fit in the outbound queue; if not, the
    /// peer is a slow consumer and is dropped with 4008.
    private func admit(size: Int, messages: Int, context writeContext: ChannelHandlerContext) -> Bool {
        guard queue.wouldOverflow(adding: size, messages: messages) else { return true }
        // The numbers may be stale from the last flush: look at the channel first.
        queue.observe(pendingBytes: pendingBytes(writeContext))
        guard queue.wouldOverflow(adding: size, messages: messages) else { return true }
        logger.info("slow consumer", metadata: connection.logMetadata.merging([
            "queued_messages": "\(queue.queuedMessages)", "queued_bytes": "\(queue.queuedBytes)",
        ]) { $1 })
        perform(state.outboundOverflowed())
        return false
    }

    /// Pings and pongs count against the outbound limits like data: a peer that sends pings
    /// as fast as it can and never reads its pongs once grew the server by 1.8 GiB in 20 s.
    /// Now its pongs fill its queue like any backlog, and it is dropped as a slow consumer.
    /// The caller flushes.
    private func writeControl(_ frame: OutboundFrame) {
        guard let writeContext = self.context else { return }
        let size = frame.bytes.readableBytes
        guard admit(size: size, messages: 1, context: writeContext) else { return }
        writeContext.write(NIOAny(frame.bytes), promise: nil)
        queue.enqueued(bytes: size, messages: 1)
    }

    // MARK: performing the state machine's actions

    private func perform(_ action: ConnectionStateMachine.Action) {
        guard let context else {
            if let code = action.cleanup { cleanup(code) }
            return
        }
        var closeWritten: EventLoopFuture<Void>?
        if let code = action.sendClose, let writeContext = self.context {
            let frame = OutboundFrame.close(code, reason: action.closeReason, allocator: context.channel.allocator)
            let promise = context.eventLoop.makePromise(of: Void.self)
            writeContext.writeAndFlush(NIOAny(frame.bytes), promise: promise)
            closeWritten = promise.futureResult
        }
        if let code = action.cleanup { cleanup(code) }
        switch action.closeTransport {
        case .no:
            break
        case .now:
            context.close(promise: nil)
        case .whenCloseFrameWritten:
            if let closeWritten {
                let this = NIOLoopBound(self, eventLoop: context.eventLoop)
                closeWritten.whenComplete { _ in this.value.closeOutput() }
                scheduleCloseTimer(context) { $0.closeTransport() }
            } else {
                context.close(promise: nil)
            }
        case .afterCloseTimeout:
            scheduleCloseTimer(context) { $0.perform($0.state.closeTimedOut()) }
        }
    }

    /// Half-closes after our close frame: we send nothing more, but keep reading until the
    /// peer closes (or the close timer fires). Closing both ways at once would make the
    /// kernel answer the peer's late pongs with a reset, which can destroy data still in
    /// flight to it, the close frame included (a slow consumer catching up never saw 4008).
    private func closeOutput() {
        guard let context else { return }
        let promise = context.eventLoop.makePromise(of: Void.self)
        let this = NIOLoopBound(self, eventLoop: context.eventLoop)
        promise.futureResult.whenFailure { _ in this.value.closeTransport() }
        context.close(mode: .output, promise: promise)
    }

    func closeTransport() {
        context?.close(promise: nil)
    }

    private func scheduleCloseTimer(_ context: ChannelHandlerContext, _ body: @escaping (WebSocketConnectionHandler) -> Void) {
        closeTimer?.cancel()
        closeTimer = context.eventLoop.assumeIsolatedUnsafeUnchecked().scheduleTask(in: closeTimeout) { [weak self] in
            if let self { body(self) }
        }
    }

    private func cleanup(_ code: CloseCode) {
        heldRooms.removeAll()
        hub.connectionClosed(connection, code: code)
        logger.info("connection closed", metadata: connection.logMetadata.merging(["close_code": "\(code)"]) { $1 })
    }

    private func stopTimers() {
        connection.outbox.heartbeats.remove(self)
        closeTimer?.cancel()
        closeTimer = nil
    }
}
