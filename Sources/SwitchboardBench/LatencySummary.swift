import Foundation
import Histogram

/// Percentiles of a latency distribution, in milliseconds.
public struct LatencySummary: Codable, Sendable {
    public var count: Int
    public var p50: Double
    public var p90: Double
    public var p99: Double
    public var p999: Double
    public var max: Double

    /// From a histogram of microseconds.
    init(microseconds histogram: Histogram<UInt64>) {
        func ms(_ micros: UInt64) -> Double { Double(micros) / 1000 }
        count = Int(histogram.totalCount)
        guard count > 0 else {
            p50 = 0; p90 = 0; p99 = 0; p999 = 0; max = 0
            return
        }
        p50 = ms(histogram.valueAtPercentile(50))
        p90 = ms(histogram.valueAtPercentile(90))
        p99 = ms(histogram.valueAtPercentile(99))
        p999 = ms(histogram.valueAtPercentile(99.9))
        max = ms(histogram.max)
    }

    /// Exact nearest-rank percentiles of a few values in nanoseconds (broadcast's per-message
    /// time to all: one value per message, too few for a histogram to add anything).
    init(nanoseconds values: [Int64]) {
        let sorted = values.sorted()
        count = sorted.count
        func at(_ percentile: Double) -> Double {
            guard !sorted.isEmpty else { return 0 }
            let rank = Swift.max(1, Int((percentile / 100 * Double(sorted.count)).rounded(.up)))
            return (Double(sorted[Swift.min(rank, sorted.count) - 1]) / 1000).rounded() / 1000
        }
        p50 = at(50)
        p90 = at(90)
        p99 = at(99)
        p999 = at(99.9)
        max = at(100)
    }

    var line: String {
        "p50 \(format(p50))  p90 \(format(p90))  p99 \(format(p99))  p99.9 \(format(p999))  max \(format(max))  (n=\(count))"
    }

    private func format(_ value: Double) -> String {
        String(format: "%.2f", value)
    }
}
