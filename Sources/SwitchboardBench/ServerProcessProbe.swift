import Foundation

/// Reads a local server's memory and CPU time from `/proc`, for `--pid`.
///
/// Only meaningful when the server runs on this machine; against a remote deployment these
/// numbers come from the server's own monitoring instead.
struct ServerProcessProbe: Sendable {
    let pid: Int32

    /// Clock ticks per second for `/proc/PID/stat` times (USER_HZ, nearly always 100).
    static let ticksPerSecond: Double = {
        let ticks = sysconf(Int32(_SC_CLK_TCK))
        return ticks > 0 ? Double(ticks) : 100
    }()

    struct Memory: Sendable {
        var rssKiB: Int64
        var peakKiB: Int64
    }

    /// VmRSS and VmHWM (the peak) from `/proc/PID/status`; nil if the process is gone.
    func memory() -> Memory? {
        guard let status = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8) else { return nil }
        var memory = Memory(rssKiB: 0, peakKiB: 0)
        for line in status.split(separator: "\n") {
            let fields = line.split(whereSeparator: { $0 == " " || $0 == "\t" })
            guard fields.count >= 2, let value = Int64(fields[1]) else { continue }
            if fields[0] == "VmRSS:" { memory.rssKiB = value }
            if fields[0] == "VmHWM:" { memory.peakKiB = value }
        }
        return memory
    }

    /// utime + stime of the whole process (all threads) in milliseconds.
    func cpuMilliseconds() -> Double? {
        guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
            let nameEnd = stat.lastIndex(of: ")")
        else { return nil }
        // The command name may contain spaces, so count fields after its closing parenthesis:
        // there, field 0 is the state (field 3 of the man page), so utime/stime are 11 and 12.
        let fields = stat[stat.index(after: nameEnd)...].split(separator: " ")
        guard fields.count > 12, let user = Double(fields[11]), let system = Double(fields[12]) else { return nil }
        return (user + system) / Self.ticksPerSecond * 1000
    }

    /// The single CPU the process is pinned to (`taskset -c N`), or nil if it may use several.
    static func pinnedCPU(pid: String) -> Int? {
        guard let status = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8) else { return nil }
        for line in status.split(separator: "\n") where line.hasPrefix("Cpus_allowed_list:") {
            return Int(line.dropFirst("Cpus_allowed_list:".count).trimmingCharacters(in: .whitespaces))
        }
        return nil
    }
}

/// Per-CPU busy time from `/proc/stat`, irq and softirq included: loopback TCP does much of
/// its work in softirq, which is charged to neither process, so a core can be full while
/// both processes look half idle.
struct CPUCoreSample: Sendable {
    var busy: [Double] = []
    var total: [Double] = []

    static func take() -> CPUCoreSample {
        var sample = CPUCoreSample()
        guard let stat = try? String(contentsOfFile: "/proc/stat", encoding: .utf8) else { return sample }
        for line in stat.split(separator: "\n") where line.hasPrefix("cpu") && !line.hasPrefix("cpu ") {
            let fields = line.split(separator: " ").dropFirst().prefix(8).compactMap { Double($0) }
            guard fields.count == 8 else { continue }
            let total = fields.reduce(0, +)
            sample.busy.append(total - fields[3] - fields[4])  // minus idle and iowait
            sample.total.append(total)
        }
        return sample
    }

    /// Percent busy of `core` between `earlier` and `self`.
    func busyPercent(core: Int, since earlier: CPUCoreSample) -> Double? {
        guard core >= 0, core < busy.count, core < earlier.busy.count, total[core] > earlier.total[core] else { return nil }
        return ((busy[core] - earlier.busy[core]) / (total[core] - earlier.total[core]) * 100).rounded()
    }

    func busyPercentAll(since earlier: CPUCoreSample) -> [Double] {
        (0..<min(busy.count, earlier.busy.count)).compactMap { busyPercent(core: $0, since: earlier) }
    }
}
