import Foundation
import NIOCore

/// How many CPUs this process may run on.
///
/// `System.coreCount` honours cgroup quotas and cpusets but not the affinity mask that
/// `taskset` sets, so a server pinned to one core would still start one event loop per core
/// of the machine, and those loops would fight over the one core. Size event-loop groups
/// from this instead. (Swift's Glibc module does not expose `sched_getaffinity`, a GNU
/// extension, so the mask is read where the kernel publishes it: `Cpus_allowed` in
/// `/proc/self/status`, the same mask `nproc` reports.)
public enum AvailableCPUs {
    public static var count: Int {
        guard let status = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8),
            let cpus = affinityCount(procStatus: status), cpus > 0
        else { return System.coreCount }
        return min(cpus, System.coreCount)
    }

    /// Counts the bits of the `Cpus_allowed:` hex mask (e.g. `00000000,00000003` → 2).
    public static func affinityCount(procStatus: String) -> Int? {
        for line in procStatus.split(separator: "\n") where line.hasPrefix("Cpus_allowed:") {
            let mask = line.dropFirst("Cpus_allowed:".count).trimmingCharacters(in: .whitespaces)
            var bits = 0
            for character in mask where character != "," {
                guard let nibble = character.hexDigitValue else { return nil }
                bits += nibble.nonzeroBitCount
            }
            return bits
        }
        return nil
    }
}
