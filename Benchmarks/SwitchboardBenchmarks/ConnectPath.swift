import Benchmark
import Foundation
import NIOCore
import Switchboard
import SwitchboardChat
import SwitchboardProtocol

/// The connect path's own work (issue 14: connect cost): a login's ticket and answer, the
/// upgrade's ticket redeem, and the join ack a joiner gets (its history's timestamps and its
/// encoding). Per operation (`.kilo`).
func connectPathBenchmarks() {
    Benchmark("login: ticket issue + LoginResponse JSON") { benchmark in
        let tickets = TicketStore(lifetime: .seconds(30))
        // The answer as HTTPRoutes writes it: hand-encoded into the body's buffer.
        let allocator = ByteBufferAllocator()
        measuringCPU(benchmark) {
            for index in benchmark.scaledIterations {
                let ticket = tickets.issue(for: "user\(index % 1000)")
                blackHole(LoginResponse(ticket: ticket, expiresIn: 30, user: "user").jsonBuffer(allocator: allocator))
            }
        }
    }

    Benchmark("ticket redeem") { benchmark in
        let tickets = TicketStore(lifetime: .seconds(600))
        // Issued before the measurement: only the redeem is measured.
        let issued = benchmark.scaledIterations.map { tickets.issue(for: "user\($0 % 1000)") }
        measuringCPU(benchmark) {
            for ticket in issued {
                blackHole(tickets.redeem(ticket))
            }
        }
    }

    Benchmark("join ack encode (20 members, 50 history messages)") { benchmark in
        let members = (0..<20).map { "user\($0)" }
        let history = (1...50).map { seq in
            NewMessage(room: "lobby", from: "user\(seq % 20)", message: String(repeating: "x", count: 100), sent: "2026-12-03T12:00:00.000Z", seq: seq)
        }
        let ack = JoinAck(room: "lobby", members: members, seq: 50, epoch: "4cc75af7-8871-4212-b317-7261821566b4", history: history, more: false, recovered: nil)
        let allocator = ByteBufferAllocator()
        // JoinAck is JSONWritable: this is the hand encoder, as the join handler uses it.
        measuringCPU(benchmark) {
            for index in benchmark.scaledIterations {
                do {
                    blackHole(try EventEncoding.ack(id: .int(index), payload: ack, allocator: allocator))
                } catch {
                    benchmark.error("encode failed: \(error)")
                    return
                }
            }
        }
    }

    // The other half of a join ack's history: each stored message's `sent` becomes its RFC 3339
    // text (ChatEvents.join maps StoredMessage to NewMessage) before the ack is encoded.
    Benchmark("join ack history timestamps (50 x Timestamp.rfc3339)") { benchmark in
        let dates = (1...50).map { Date(timeIntervalSince1970: 1_764_763_200 + Double($0) * 0.123) }
        measuringCPU(benchmark) {
            for _ in benchmark.scaledIterations {
                for date in dates { blackHole(Timestamp.rfc3339(date)) }
            }
        }
    }
}
