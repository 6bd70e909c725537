import Foundation

/// What this process may use: open files and CPUs.
public enum ProcessResources {
    /// Raises the soft open-file limit to the hard limit, because every client is a socket and
    /// the usual soft limit (1024) is far below a benchmark's connection count. Returns the
    /// soft limit in force afterwards (without CAP_SYS_RESOURCE the hard limit stays as it is).
    @discardableResult
    public static func raiseOpenFileLimit() -> UInt64 {
        var limit = rlimit()
        #if os(Linux)
        let resource = __rlimit_resource_t(RLIMIT_NOFILE.rawValue)
        #else
        let resource = RLIMIT_NOFILE
        #endif
        guard getrlimit(resource, &limit) == 0 else { return 0 }
        if limit.rlim_cur < limit.rlim_max {
            var raised = limit
            raised.rlim_cur = limit.rlim_max
            if setrlimit(resource, &raised) == 0 { limit = raised }
        }
        return UInt64(limit.rlim_cur)
    }

    /// CPUs in this process's affinity mask (what `nproc` prints). `System.coreCount` ignores
    /// the mask that `taskset` sets, so a bench pinned to one core would otherwise start one
    /// event loop per core of the machine and have them fight over that core.
    public static var availableCPUs: Int {
        let machine = ProcessInfo.processInfo.activeProcessorCount
        guard let status = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8) else { return machine }
        for line in status.split(separator: "\n") where line.hasPrefix("Cpus_allowed:") {
            var bits = 0
            for character in line.dropFirst("Cpus_allowed:".count) where character.isHexDigit {
                bits += character.hexDigitValue!.nonzeroBitCount
            }
            return bits > 0 ? min(bits, machine) : machine
        }
        return machine
    }

    /// CPU time (user + system) this process has used, in seconds.
    static func selfCPUSeconds() -> Double {
        var usage = rusage()
        #if os(Linux)
        getrusage(__rusage_who_t(RUSAGE_SELF.rawValue), &usage)
        #else
        getrusage(RUSAGE_SELF, &usage)
        #endif
        func seconds(_ time: timeval) -> Double { Double(time.tv_sec) + Double(time.tv_usec) / 1e6 }
        return seconds(usage.ru_utime) + seconds(usage.ru_stime)
    }
}
