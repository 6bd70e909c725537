import Foundation

/// Reads standard input line by line on a thread of its own: `readLine` blocks, and a blocked
/// task would hold one of the few threads of Swift's cooperative pool.
enum StandardInputReader {
    /// Calls `deliver` with each line, then with nil at end of input.
    static func start(_ deliver: @escaping @Sendable (String?) -> Void) {
        let thread = Thread {
            while let line = readLine(strippingNewline: true) { deliver(line) }
            deliver(nil)
        }
        thread.name = "stdin"
        thread.start()
    }
}
