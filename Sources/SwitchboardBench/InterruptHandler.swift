import Foundation
import NIOConcurrencyHelpers

/// Turns SIGINT and SIGTERM into `Deadline.interrupt()` for the length of a run; a second
/// signal, or 30 s without the run finishing, exits at once.
final class InterruptHandler {
    private let sources: [any DispatchSourceSignal]

    init(deadline: Deadline, log: @escaping @Sendable (String) -> Void) {
        let signalled = NIOLockedValueBox(false)
        sources = [SIGINT, SIGTERM].map { number in
            signal(number, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: number, queue: .global())
            source.setEventHandler {
                if signalled.withLockedValue({ value in defer { value = true }; return value }) { exit(130) }
                log("switchboard bench: interrupted; closing the clients and reporting (again to quit at once)")
                deadline.interrupt()
                DispatchQueue.global().asyncAfter(deadline: .now() + 30) { exit(130) }
            }
            source.resume()
            return source
        }
    }

    func cancel() {
        for source in sources { source.cancel() }
        signal(SIGINT, SIG_DFL)
        signal(SIGTERM, SIG_DFL)
    }
}
