import NIOCore

/// Pings and ping timeouts for all the connections of one event loop, from one repeating
/// timer.
///
/// A timer per connection (NIO's `RepeatedTask`, its promise, callbacks and scheduled-task
/// entry) cost ~500 bytes per idle connection; this costs an array slot. Each pass asks every
/// connection whether a ping or its timeout is due, so both happen within one sweep period
/// (a quarter of the shortest interval or timeout, at most a second) of when they are due.
/// Loop-confined: every method runs on `eventLoop`.
final class HeartbeatSweep: @unchecked Sendable {
    let eventLoop: any EventLoop
    private var handlers: [WebSocketConnectionHandler] = []
    private var timer: RepeatedTask?
    private var period: TimeAmount = .seconds(1)

    static let longestPeriod: TimeAmount = .seconds(1)
    static let shortestPeriod: TimeAmount = .milliseconds(10)

    init(eventLoop: any EventLoop) {
        self.eventLoop = eventLoop
    }

    func add(_ handler: WebSocketConnectionHandler, interval: TimeAmount, timeout: TimeAmount) {
        eventLoop.assertInEventLoop()
        guard handler.heartbeatSlot == nil else { return }
        handler.heartbeatSlot = handlers.count
        handlers.append(handler)
        let wanted = max(Self.shortestPeriod, min(Self.longestPeriod, .nanoseconds(min(interval, timeout).nanoseconds / 4)))
        if timer == nil || wanted < period {
            period = wanted
            timer?.cancel()
            timer = eventLoop.scheduleRepeatedTask(initialDelay: period, delay: period) { [unowned self] _ in
                self.sweep()
            }
        }
    }

    func remove(_ handler: WebSocketConnectionHandler) {
        eventLoop.assertInEventLoop()
        guard let slot = handler.heartbeatSlot else { return }
        handler.heartbeatSlot = nil
        let last = handlers.removeLast()
        if slot < handlers.count {
            handlers[slot] = last
            last.heartbeatSlot = slot
        }
        if handlers.isEmpty {
            timer?.cancel()
            timer = nil
            handlers = []
        }
    }

    private func sweep() {
        let now = NIODeadline.now()
        // A snapshot: a tick may drop its connection, which removes it from `handlers`.
        for handler in handlers {
            handler.heartbeatTick(now: now)
        }
    }
}
