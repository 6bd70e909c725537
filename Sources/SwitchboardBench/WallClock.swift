#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Unix time in nanoseconds.
///
/// Latency is "receive time minus the send time written into the message", and the message
/// carries wall-clock nanos so any reader (this tool, the Go loadgen, a packet capture) can
/// decode it. Both ends run in this process, so the wall clock is consistent with itself;
/// only a clock step during a run (NTP slew is fine) would distort a measurement.
enum WallClock {
    @inline(__always)
    static func nowNanos() -> Int64 {
        var spec = timespec()
        clock_gettime(CLOCK_REALTIME, &spec)
        return Int64(spec.tv_sec) * 1_000_000_000 + Int64(spec.tv_nsec)
    }
}
