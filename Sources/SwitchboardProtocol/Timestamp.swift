import Foundation

/// RFC 3339 UTC with milliseconds, e.g. `2026-11-25T12:00:00.123Z`: the `sent` of a message.
public enum Timestamp {
    /// Every history entry of a join ack carries one of these, so it is written digit by digit
    /// into one 24-byte string: no `gmtime_r` (glibc takes its time-zone lock even for UTC)
    /// and no interpolated pieces (a dozen small Strings per call): 6.5× faster (BENCHMARKS.md).
    /// Years outside 0000...9999 are clamped to those, which RFC 3339 cannot write anyway.
    public static func rfc3339(_ date: Date) -> String {
        // To the nearest microsecond first: a Date is a Double, and one made from a whole
        // millisecond (from PostgreSQL's microseconds, or a test's literal) is often a hair
        // below it, which flooring straight to milliseconds would turn into the one before.
        let micros = Int64((date.timeIntervalSince1970 * 1_000_000).rounded())
        let millisTotal = floorDivide(micros, 1000).quotient
        let (days, millisOfDay) = floorDivide(millisTotal, 86_400_000)
        let (year, month, day) = civilDate(daysSince1970: days)
        let clampedYear = min(max(year, 0), 9999)
        let secondsOfDay = Int(millisOfDay / 1000)
        return String(unsafeUninitializedCapacity: 24) { bytes in
            func put(_ value: Int, digits: Int, at offset: Int) {
                var rest = value
                for index in stride(from: offset + digits - 1, through: offset, by: -1) {
                    bytes[index] = UInt8(ascii: "0") &+ UInt8(rest % 10)
                    rest /= 10
                }
            }
            put(Int(clampedYear), digits: 4, at: 0)
            bytes[4] = UInt8(ascii: "-")
            put(month, digits: 2, at: 5)
            bytes[7] = UInt8(ascii: "-")
            put(day, digits: 2, at: 8)
            bytes[10] = UInt8(ascii: "T")
            put(secondsOfDay / 3600, digits: 2, at: 11)
            bytes[13] = UInt8(ascii: ":")
            put(secondsOfDay / 60 % 60, digits: 2, at: 14)
            bytes[16] = UInt8(ascii: ":")
            put(secondsOfDay % 60, digits: 2, at: 17)
            bytes[19] = UInt8(ascii: ".")
            put(Int(millisOfDay % 1000), digits: 3, at: 20)
            bytes[23] = UInt8(ascii: "Z")
            return 24
        }
    }

    /// RFC 9110's IMF-fixdate, e.g. `Fri, 04 Dec 2026 10:25:39 GMT`: an HTTP `Date` header.
    public static func httpDate(secondsSince1970 seconds: Int64) -> String {
        let (days, secondsOfDay) = floorDivide(seconds, 86_400)
        let (year, month, day) = civilDate(daysSince1970: days)
        // 1 January 1970 was a Thursday.
        let weekday = Int(floorDivide(days + 4, 7).remainder)
        let weekdays = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"]
        let months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
        func two(_ value: Int64) -> String { value < 10 ? "0\(value)" : "\(value)" }
        let clampedYear = min(max(year, 0), 9999)
        let yearText = String(repeating: "0", count: 4 - String(clampedYear).count) + String(clampedYear)
        return "\(weekdays[weekday]), \(two(Int64(day))) \(months[month - 1]) \(yearText) "
            + "\(two(secondsOfDay / 3600)):\(two(secondsOfDay / 60 % 60)):\(two(secondsOfDay % 60)) GMT"
    }

    /// Parses what `rfc3339` writes (and the same without milliseconds); nil for anything else.
    public static func date(_ text: String) -> Date? {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        if let date = formatter.date(from: text) { return date }
        formatter.formatOptions = [.withInternetDateTime]
        return formatter.date(from: text)
    }

    /// Quotient rounded towards minus infinity and a remainder in 0..<divisor, so that times
    /// before 1970 land on the day they fall in rather than the one after it.
    private static func floorDivide(_ value: Int64, _ divisor: Int64) -> (quotient: Int64, remainder: Int64) {
        let quotient = value / divisor
        let remainder = value % divisor
        return remainder < 0 ? (quotient - 1, remainder + divisor) : (quotient, remainder)
    }

    /// Proleptic Gregorian date of a day count, counted in 400-year eras of 146,097 days
    /// starting on 1 March (so the leap day is the last day of its year): the well-known
    /// "days to civil" arithmetic, exact for every day an Int64 of milliseconds can hold.
    private static func civilDate(daysSince1970: Int64) -> (year: Int64, month: Int, day: Int) {
        let days = daysSince1970 + 719_468
        let era = (days >= 0 ? days : days - 146_096) / 146_097
        let dayOfEra = days - era * 146_097
        let yearOfEra = (dayOfEra - dayOfEra / 1460 + dayOfEra / 36524 - dayOfEra / 146_096) / 365
        let dayOfYear = dayOfEra - (365 * yearOfEra + yearOfEra / 4 - yearOfEra / 100)
        let shiftedMonth = (5 * dayOfYear + 2) / 153
        let day = Int(dayOfYear - (153 * shiftedMonth + 2) / 5 + 1)
        let month = Int(shiftedMonth < 10 ? shiftedMonth + 3 : shiftedMonth - 9)
        let year = yearOfEra + era * 400 + (month <= 2 ? 1 : 0)
        return (year, month, day)
    }
}
