import NIOCore

/// Sends one fan-out sender's messages at a fixed rate on its own event loop.
///
/// Message n is due at `start + n × interval`. Each timer tick sends every message that is
/// due by then, so a tick that fires late (a loop busy reading) catches up instead of lowering
/// the rate; the send time in each message is taken as it is written, so the delay a busy
/// loop adds before writing is not counted as server latency. Only the loop touches the
/// counter, hence `@unchecked Sendable`.
final class SenderSchedule: @unchecked Sendable {
    private let handler: BenchWebSocketHandler
    private let size: Int
    private let start: Int64
    private let interval: Int64
    private let end: Int64
    private let deadline: Deadline
    private let finished: EventLoopPromise<Int>
    private var sent = 0

    private init(handler: BenchWebSocketHandler, size: Int, start: Int64, interval: Int64, end: Int64, deadline: Deadline) {
        self.handler = handler
        self.size = size
        self.start = start
        self.interval = max(interval, 1)
        self.end = end
        self.deadline = deadline
        self.finished = handler.recorder.eventLoop.makePromise(of: Int.self)
    }

    /// Starts sending; the future completes with the number of messages sent, at `end`, when
    /// the connection closes, or when the run is interrupted.
    static func start(handler: BenchWebSocketHandler, size: Int, start: Int64, interval: Int64, end: Int64, deadline: Deadline) -> EventLoopFuture<Int> {
        let schedule = SenderSchedule(handler: handler, size: size, start: start, interval: interval, end: end, deadline: deadline)
        let eventLoop = handler.recorder.eventLoop
        let tick = TimeAmount.nanoseconds(max(interval, 1_000_000))  // at most one timer per ms
        let firstDelay = TimeAmount.nanoseconds(max(0, start - WallClock.nowNanos()))
        eventLoop.execute {
            eventLoop.scheduleRepeatedTask(initialDelay: firstDelay, delay: tick) { task in
                schedule.tick(task)
            }
        }
        return schedule.finished.futureResult
    }

    private func tick(_ task: RepeatedTask) {
        if deadline.passed {
            task.cancel()
            finished.succeed(sent)
            return
        }
        let now = WallClock.nowNanos()
        let due = now >= end ? Int((end - 1 - start) / interval) + 1 : Int((now - start) / interval) + 1
        var wrote = false
        while sent < due {
            guard handler.sendChatMessage(size: size, flush: false) else {
                task.cancel()
                finished.succeed(sent)
                return
            }
            sent += 1
            wrote = true
        }
        if wrote { handler.flush() }
        if now >= end {
            task.cancel()
            finished.succeed(sent)
        }
    }
}
