import NIOConcurrencyHelpers

/// The run's overall time limit (`--max-seconds`), which Ctrl-C or SIGTERM also ends: every
/// phase checks it, so an interrupted run still closes its clients and reports what it saw.
final class Deadline: Sendable {
    let endNanos: Int64
    private let interrupted = NIOLockedValueBox(false)

    init(seconds: Double) {
        endNanos = WallClock.nowNanos() + Int64(seconds * 1e9)
    }

    var remaining: Double {
        interrupted.withLockedValue { $0 } ? 0 : Double(endNanos - WallClock.nowNanos()) / 1e9
    }

    var passed: Bool { remaining <= 0 }
    var wasInterrupted: Bool { interrupted.withLockedValue { $0 } }

    func interrupt() {
        interrupted.withLockedValue { $0 = true }
    }
}
