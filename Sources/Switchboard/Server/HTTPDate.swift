import NIOConcurrencyHelpers
import SwitchboardProtocol

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The `Date` header of responses written outside Hummingbird (which stamps its own), in
/// RFC 9110's IMF-fixdate. Formatted once per second, as Hummingbird does, not per response.
enum HTTPDate {
    private static let cache = NIOLockedValueBox((second: Int64.min, text: ""))

    static var now: String {
        let second = Int64(time(nil))
        return cache.withLockedValue { cache in
            if cache.second != second {
                cache = (second, Timestamp.httpDate(secondsSince1970: second))
            }
            return cache.text
        }
    }
}
