import NIOCore

/// One benchmark client's WebSocket connection: it sends the upgrade request, parses the
/// server's frames straight out of NIO's read buffers, and records every event into its
/// loop's `LoopRecorder`.
///
/// There is no `NIOWebSocket` pipeline here on purpose: every inbound byte is looked at once,
/// in place, and a presence event costs a 14-byte comparison. The handler only runs on its
/// channel's event loop; the orchestrating task reaches it through `eventLoop.submit`/`execute`,
/// which is why `@unchecked Sendable` is sound.
final class BenchWebSocketHandler: ChannelInboundHandler, @unchecked Sendable {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    let index: Int
    /// Always `r<n>`, so it goes into JSON without escaping.
    let room: String
    private let roomBytes: [UInt8]
    private let joinID: Int64
    private let upgradeRequest: String
    let recorder: LoopRecorder

    private enum State { case upgrading, open, closed }
    private var state = State.upgrading
    private var context: ChannelHandlerContext?
    private var pending: ByteBuffer?
    private var fragments: ByteBuffer?
    private var fragmentsAreText = false
    private var encoder = ClientFrameEncoder()
    private var sentClose = false

    private var upgradePromise: EventLoopPromise<Void>?
    private var ackPromise: EventLoopPromise<Void>?
    private(set) var joined = false
    /// Closed by us (an abandoned join, the end of the run): the close is not a lost client.
    private var closedByUs = false
    /// The server's close code, or why the connection ended without one.
    private var closeReason: String?
    /// The latest `seq` of the room seen (join ack or message); -1 until known.
    private var lastSeq: Int64 = -1

    /// Sender scratch space: the `send_message` envelope is rebuilt in place for each message.
    private var messageScratch: [UInt8] = []
    private var messagePrefixLength = 0

    init(index: Int, room: String, upgradeRequest: String, recorder: LoopRecorder, upgradePromise: EventLoopPromise<Void>) {
        self.index = index
        self.room = room
        self.roomBytes = Array(room.utf8)
        self.joinID = Int64(index) + 1
        self.upgradeRequest = upgradeRequest
        self.recorder = recorder
        self.upgradePromise = upgradePromise
    }

    // MARK: lifecycle

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        self.context = nil
    }

    func channelActive(context: ChannelHandlerContext) {
        context.writeAndFlush(wrapOutboundOut(ByteBuffer(string: upgradeRequest)), promise: nil)
        context.eventLoop.scheduleTask(in: .seconds(10)) { [self] in
            if state == .upgrading, let context = self.context { fail(context: context, "no upgrade response within 10s") }
        }
        context.fireChannelActive()
    }

    func channelInactive(context: ChannelHandlerContext) {
        state = .closed
        let reason = closeReason ?? "no close frame"
        if let promise = upgradePromise {
            upgradePromise = nil
            promise.fail(BenchClientError("closed before the upgrade response" + (closeReason.map { " (\($0))" } ?? "")))
        }
        if let promise = ackPromise {
            ackPromise = nil
            promise.fail(BenchClientError("closed \(reason)"))
        } else if joined && !closedByUs && !recorder.ending {
            recorder.recordLost(closeCode: reason)
        }
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        if closeReason == nil { closeReason = "error: \(BenchRun.shortDescription(error))" }
        context.close(promise: nil)
    }

    private func fail(context: ChannelHandlerContext, _ reason: String) {
        if closeReason == nil { closeReason = reason }
        if let promise = upgradePromise {
            upgradePromise = nil
            promise.fail(BenchClientError(reason))
        }
        closedByUs = true
        context.close(promise: nil)
    }

    // MARK: reading

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var incoming = unwrapInboundIn(data)
        let now = WallClock.nowNanos()
        recorder.lastEventNanos = now
        if var buffered = pending {
            pending = nil
            buffered.writeBuffer(&incoming)
            process(&buffered, context: context, now: now)
            keep(remainder: &buffered, context: context)
        } else {
            process(&incoming, context: context, now: now)
            keep(remainder: &incoming, context: context)
        }
    }

    /// Keeps an incomplete frame for the next read, copied into a small buffer of its own so
    /// that NIO's (much larger) read buffer is not held by an idle client.
    private func keep(remainder: inout ByteBuffer, context: ChannelHandlerContext) {
        guard remainder.readableBytes > 0, state != .closed else { return }
        var copy = context.channel.allocator.buffer(capacity: max(remainder.readableBytes, 256))
        copy.writeBuffer(&remainder)
        pending = copy
    }

    private func process(_ buffer: inout ByteBuffer, context: ChannelHandlerContext, now: Int64) {
        if state == .upgrading {
            guard readUpgradeResponse(&buffer, context: context) else { return }
        }
        while state == .open {
            guard let frame = nextFrameBounds(buffer) else { return }
            buffer.withUnsafeReadableBytes { bytes in
                let payload = UnsafeRawBufferPointer(rebasing: bytes[frame.payloadStart..<frame.payloadStart + frame.payloadLength])
                handleFrame(opcode: frame.opcode, fin: frame.fin, payload: payload, context: context, now: now)
            }
            buffer.moveReaderIndex(forwardBy: frame.payloadStart + frame.payloadLength)
        }
    }

    /// Parses the HTTP answer to the upgrade request; true once the connection speaks WebSocket.
    private func readUpgradeResponse(_ buffer: inout ByteBuffer, context: ChannelHandlerContext) -> Bool {
        let headEnd: Int? = buffer.withUnsafeReadableBytes { bytes in
            guard bytes.count >= 4 else { return nil }
            for index in 3..<bytes.count
            where bytes[index] == 0x0A && bytes[index - 1] == 0x0D && bytes[index - 2] == 0x0A && bytes[index - 3] == 0x0D {
                return index + 1
            }
            return nil
        }
        guard let headEnd else {
            if buffer.readableBytes > 16 * 1024 { fail(context: context, "upgrade response head too long") }
            return false
        }
        let head = buffer.readString(length: headEnd) ?? ""
        let status = head.split(separator: " ", maxSplits: 2).dropFirst().first.flatMap { Int($0) } ?? 0
        guard status == 101 else {
            fail(context: context, "HTTP \(status)")
            return false
        }
        state = .open
        upgradePromise?.succeed()
        upgradePromise = nil
        return true
    }

    private struct FrameBounds {
        var opcode: UInt8
        var fin: Bool
        var payloadStart: Int  // relative to the reader index
        var payloadLength: Int
    }

    /// The next complete frame in `buffer`, or nil if more bytes are needed.
    @inline(__always)
    private func nextFrameBounds(_ buffer: ByteBuffer) -> FrameBounds? {
        buffer.withUnsafeReadableBytes { bytes -> FrameBounds? in
            guard bytes.count >= 2 else { return nil }
            let first = bytes[0]
            let second = bytes[1]
            var headerLength = 2
            var length = Int(second & 0x7F)
            if length == 126 {
                guard bytes.count >= 4 else { return nil }
                length = Int(bytes[2]) << 8 | Int(bytes[3])
                headerLength = 4
            } else if length == 127 {
                guard bytes.count >= 10 else { return nil }
                length = 0
                for index in 2..<10 { length = length << 8 | Int(bytes[index]) }
                headerLength = 10
            }
            // Servers must not mask; if one does, the key is skipped and the bytes stay masked,
            // so the frame counts as bad rather than being misread.
            if second & 0x80 != 0 { headerLength += 4 }
            guard length >= 0, bytes.count - headerLength >= length else { return nil }
            return FrameBounds(opcode: first & 0x0F, fin: first & 0x80 != 0, payloadStart: headerLength, payloadLength: length)
        }
    }

    private func handleFrame(opcode: UInt8, fin: Bool, payload: UnsafeRawBufferPointer, context: ChannelHandlerContext, now: Int64) {
        switch opcode {
        case 0x1 where fin && fragments == nil:
            handleText(payload, now: now)
        case 0x1, 0x2:
            // The start of a fragmented message (or a binary frame, which the protocol never sends).
            if fin {
                recorder.badFrames += 1
            } else {
                var buffer = context.channel.allocator.buffer(capacity: payload.count * 2)
                buffer.writeBytes(payload)
                fragments = buffer
                fragmentsAreText = opcode == 0x1
            }
        case 0x0:
            guard var buffer = fragments else {
                recorder.badFrames += 1
                return
            }
            fragments = nil
            buffer.writeBytes(payload)
            if fin {
                if fragmentsAreText {
                    buffer.withUnsafeReadableBytes { handleText($0, now: now) }
                } else {
                    recorder.badFrames += 1
                }
            } else {
                fragments = buffer
            }
        case 0x8:
            if payload.count >= 2 {
                closeReason = String(UInt16(payload[0]) << 8 | UInt16(payload[1]))
            } else if closeReason == nil {
                closeReason = "1005"
            }
            state = .closed
            if !sentClose {
                sentClose = true
                let echo = encoder.frame(.close, payload: UnsafeRawBufferPointer(rebasing: payload.prefix(2)), allocator: context.channel.allocator)
                context.writeAndFlush(wrapOutboundOut(echo), promise: nil)
            }
            context.close(promise: nil)
        case 0x9:
            let pong = encoder.frame(.pong, payload: payload, allocator: context.channel.allocator)
            context.writeAndFlush(wrapOutboundOut(pong), promise: nil)
        case 0xA:
            break
        default:
            recorder.badFrames += 1
        }
    }

    @inline(__always)
    private func handleText(_ bytes: UnsafeRawBufferPointer, now: Int64) {
        if ServerEventScanner.isPresenceFastPath(bytes) {
            recorder.presenceEvents += 1
            return
        }
        let event = ServerEventScanner.newMessageFastPath(bytes) ?? ServerEventScanner.scan(bytes)
        switch event.kind {
        case .newMessage:
            handleNewMessage(event, bytes, now: now)
        case .presence:
            recorder.presenceEvents += 1
        case .ack, .error:
            if let id = event.id, id == joinID, let promise = ackPromise {
                ackPromise = nil
                if event.kind == .ack {
                    if let seq = event.seq, seq > lastSeq { lastSeq = seq }
                    joined = true
                    promise.succeed()
                } else {
                    let code = event.code.map { ServerEventScanner.string(bytes, $0) } ?? "?"
                    promise.fail(BenchClientError("error \(code)"))
                }
            } else if event.kind == .error {
                let code = event.code.map { ServerEventScanner.string(bytes, $0) } ?? "?"
                recorder.serverErrors[code, default: 0] += 1
            } else {
                recorder.otherEvents += 1
            }
        case .other:
            recorder.otherEvents += 1
        case .unknown:
            recorder.badFrames += 1
        }
    }

    @inline(__always)
    private func handleNewMessage(_ event: ServerEvent, _ bytes: UnsafeRawBufferPointer, now: Int64) {
        guard let room = event.room, let seq = event.seq else {
            recorder.badFrames += 1
            return
        }
        guard ServerEventScanner.equals(bytes, room, roomBytes) else {
            recorder.wrongRoom += 1
            return
        }
        if lastSeq >= 0 {
            if seq > lastSeq + 1 {
                recorder.seqGaps += Int(seq - lastSeq - 1)
            } else if seq <= lastSeq {
                recorder.seqReorders += 1
            }
        }
        if seq > lastSeq { lastSeq = seq }
        guard let sent = event.messageNanos, sent > 0 else {
            recorder.badFrames += 1  // not a bench message: someone else is talking in the room
            return
        }
        guard sent >= recorder.stepStartNanos else {
            recorder.staleDeliveries += 1
            return
        }
        recorder.recordDelivery(latencyNanos: now - sent, at: now)
        recorder.broadcastTracker?.delivered(sentNanos: sent, at: now)
    }

    // MARK: writing (on the event loop)

    /// Sends `join_room` with this client's id; the future completes with the ack.
    func sendJoin() -> EventLoopFuture<Void> {
        let eventLoop = recorder.eventLoop
        guard let context, state == .open else {
            return eventLoop.makeFailedFuture(BenchClientError("closed \(closeReason ?? "before join")"))
        }
        let promise = eventLoop.makePromise(of: Void.self)
        ackPromise = promise
        let join = #"{"type":"join_room","id":"# + String(joinID) + #","payload":{"room":""# + room + #""}}"#
        let frame = encoder.frame(.text, payload: Array(join.utf8), allocator: context.channel.allocator)
        context.writeAndFlush(wrapOutboundOut(frame), promise: nil)
        context.eventLoop.scheduleTask(in: .seconds(15)) { [self] in
            if let pending = ackPromise, pending.futureResult === promise.futureResult {
                ackPromise = nil
                pending.fail(BenchClientError("no ack within 15s"))
            }
        }
        return promise.futureResult
    }

    /// Sends one `send_message` (no id) whose text is `"<unix nanos> <index> xxx…"` padded to
    /// `size` characters; `beforeWrite` sees the send time first. Returns false if closed.
    @discardableResult
    func sendChatMessage(size: Int, flush: Bool = true, beforeWrite: ((Int64) -> Void)? = nil) -> Bool {
        guard let context, state == .open else { return false }
        if messagePrefixLength == 0 {
            messageScratch = Array((#"{"type":"send_message","payload":{"room":""# + room + #"","message":""#).utf8)
            messagePrefixLength = messageScratch.count
        }
        let prefixLength = messagePrefixLength
        messageScratch.removeSubrange(prefixLength...)
        let sent = WallClock.nowNanos()
        beforeWrite?(sent)
        messageScratch.append(contentsOf: String(sent).utf8)
        messageScratch.append(UInt8(ascii: " "))
        messageScratch.append(contentsOf: String(index).utf8)
        messageScratch.append(UInt8(ascii: " "))
        let textLength = messageScratch.count - prefixLength
        if textLength < size {
            messageScratch.append(contentsOf: repeatElement(UInt8(ascii: "x"), count: size - textLength))
        }
        messageScratch.append(contentsOf: #""}}"#.utf8)
        let frame = encoder.frame(.text, payload: messageScratch, allocator: context.channel.allocator)
        if flush {
            context.writeAndFlush(wrapOutboundOut(frame), promise: nil)
        } else {
            context.write(wrapOutboundOut(frame), promise: nil)
        }
        return true
    }

    func flush() {
        context?.flush()
    }

    /// Closes the connection on purpose (end of run, abandoned join): not a lost client.
    func closeByUs() {
        closedByUs = true
        context?.close(promise: nil)
    }
}
