import Foundation
import SwitchboardTestSupport
import Testing
@testable import SwitchboardChat

@Suite("Heap trim")
struct HeapTrimTests {
    /// VmRSS of this process, in bytes.
    static func residentBytes() throws -> Int {
        let status = try String(contentsOfFile: "/proc/self/status", encoding: .utf8)
        let line = try #require(status.split(separator: "\n").first { $0.hasPrefix("VmRSS:") })
        let kib = try #require(Int(line.split(separator: " ", omittingEmptySubsequences: true)[1]))
        return kib * 1024
    }

    @Test("a trim gives back the freed memory that lies under memory still in use", .enabled(if: HeapTrimmer.isAvailable))
    func trimReturnsFreedMemoryUnderLiveMemory() throws {
        // A connect storm's shape: many ~1 KiB blocks (task stacks of in-flight requests),
        // then one that lives on, allocated after them; the rest are freed. glibc cannot
        // shrink the arena past the live block, so the freed 64 MiB stay resident.
        let blocks = (0..<65_536).map { _ -> UnsafeMutableRawPointer in
            let block = malloc(1024)!
            memset(block, 1, 1024)  // touched, so resident
            return block
        }
        let survivor = malloc(1024)!
        defer { free(survivor) }
        for block in blocks { free(block) }
        let beforeTrim = try Self.residentBytes()
        HeapTrimmer.trim()
        let afterTrim = try Self.residentBytes()
        // Most of the 64 MiB (other tests run alongside, so not all of it to the byte).
        #expect(beforeTrim - afterTrim > 32 << 20, "RSS \(beforeTrim >> 20) MiB before the trim, \(afterTrim >> 20) MiB after")
    }

    @Test("the schedule trims once after connections came or went, not while nothing changes")
    func scheduleTrimsAfterChurnOnly() {
        var schedule = HeapTrimSchedule(connectionsOpened: 0, openConnections: 0)
        let ticks = [
            (opened: 0, open: 0),  // idle
            (200, 200),  // a storm came
            (200, 200),  // steady
            (200, 0),  // it left
            (200, 0),  // idle
            (400, 0),  // came and went between two ticks
        ].map { schedule.tick(connectionsOpened: $0.0, openConnections: $0.1) }
        #expect(ticks == [false, true, false, true, false, true])
    }

    @Test("the server trims its heap after connections come and go", .enabled(if: HeapTrimmer.isAvailable))
    func serverTrimsAfterConnections() async throws {
        try await ChatTestServer.run({ $0.heapTrimInterval = .milliseconds(50) }) { server in
            let before = try await Self.trims(server)
            let client = try await server.connect("trim-user")
            await client.close()
            let deadline = ContinuousClock.now + .seconds(10)
            var after = before
            while after == before, ContinuousClock.now < deadline {
                try await Task.sleep(for: .milliseconds(50))
                after = try await Self.trims(server)
            }
            #expect(after > before)
        }
    }

    /// `switchboard_heap_trims_total` from `/metrics` (0 before the first trim).
    static func trims(_ server: ChatTestServer) async throws -> Int {
        let metrics = try await server.http("GET", "/metrics").body
        let line = metrics.split(separator: "\n").first { $0.hasPrefix("switchboard_heap_trims_total ") }
        return line.flatMap { Int($0.split(separator: " ")[1]) } ?? 0
    }
}
