import Logging
import NIOConcurrencyHelpers

/// A log handler that keeps every entry, so tests can assert what was (not) logged.
public final class LogCapture: Sendable {
    public struct Entry: Sendable {
        public var level: Logger.Level
        public var message: String
        public var metadata: [String: String]
    }

    private let entries = NIOLockedValueBox<[Entry]>([])

    public init() {}

    public var logger: Logger {
        var logger = Logger(label: "test") { _ in Handler(capture: self) }
        logger.logLevel = .trace
        return logger
    }

    public var all: [Entry] { entries.withLockedValue { $0 } }

    public func entries(atLeast level: Logger.Level) -> [Entry] {
        all.filter { $0.level >= level }
    }

    public func entries(withMessage message: String) -> [Entry] {
        all.filter { $0.message == message }
    }

    fileprivate func append(_ entry: Entry) {
        entries.withLockedValue { $0.append(entry) }
    }

    struct Handler: LogHandler {
        let capture: LogCapture
        var metadata: Logger.Metadata = [:]
        var logLevel: Logger.Level = .trace

        subscript(metadataKey key: String) -> Logger.Metadata.Value? {
            get { metadata[key] }
            set { metadata[key] = newValue }
        }

        func log(event: LogEvent) {
            var merged = metadata
            if let extra = event.metadata { merged.merge(extra) { $1 } }
            capture.append(Entry(
                level: event.level, message: event.message.description,
                metadata: merged.mapValues { "\($0)" }
            ))
        }
    }
}
