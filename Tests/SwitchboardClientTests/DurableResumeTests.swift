import Foundation
import SwitchboardClient
import SwitchboardProtocol
import Testing

/// The same outage as the in-memory kill-and-restart test, but with the PostgreSQL store: the
/// room's stream survives the restart, so the client's resume is gapless.
@Suite(
    "SwitchboardClient resume with the PostgreSQL store",
    .enabled(if: ProcessInfo.processInfo.environment["SWITCHBOARD_TEST_POSTGRES_URL"] != nil || ProcessInfo.processInfo.environment["CI"] != nil),
    .serialized
)
struct DurableResumeTests {
    /// A new database on the server `SWITCHBOARD_TEST_POSTGRES_URL` names, made with psql so
    /// this target needs no database driver.
    static func createDatabase() throws -> String {
        guard let admin = ProcessInfo.processInfo.environment["SWITCHBOARD_TEST_POSTGRES_URL"],
              var components = URLComponents(string: admin)
        else { throw ServerProcess.Failure("SWITCHBOARD_TEST_POSTGRES_URL is not set") }
        let name = "sb_client_\(UUID().uuidString.replacingOccurrences(of: "-", with: "").lowercased().prefix(12))"
        let psql = Process()
        psql.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        psql.arguments = ["psql", admin, "-qc", "CREATE DATABASE \(name)"]
        try psql.run()
        psql.waitUntilExit()
        guard psql.terminationStatus == 0 else { throw ServerProcess.Failure("psql could not create \(name)") }
        components.path = "/\(name)"
        return components.string!
    }

    @Test("server killed and restarted on PostgreSQL: the rejoin is gapless (recovered, same epoch), every message once with seqs 1...10")
    func gaplessAfterRestart() async throws {
        let server = try await ServerProcess(arguments: ["--postgres", try Self.createDatabase()])
        try await ClientHarness.run(url: server.url, user: "alice") { alice in
            try await ClientHarness.run(url: server.url, user: "bob") { bob in
                let joined = try await bob.client.join("durable")
                _ = try await alice.client.join("durable")
                for index in 0..<5 { _ = try await alice.client.send("before \(index)", to: "durable") }
                try await bob.waitUntil("the first five") { $0.messages.count == 5 }
                let statusesBefore = bob.statuses.count
                server.kill()
                try await bob.waitUntil("bob notices the outage") { $0.lostConnection(since: statusesBefore) }
                try await withThrowingTaskGroup(of: Int.self) { group in
                    for index in 0..<5 {
                        group.addTask { try await alice.client.send("during \(index)", to: "durable", timeout: .seconds(30)) }
                    }
                    try await Task.sleep(for: .milliseconds(300))
                    try await server.start()
                    try await group.waitForAll()
                }
                try await bob.waitUntil("the rejoin") { $0.events.contains(.recovered(room: "durable")) }
                try await bob.waitUntil("all ten") { $0.messages.count >= 10 }
                try await Task.sleep(for: .milliseconds(300))  // a duplicate would arrive by now
                #expect(bob.messages.map(\.seq) == Array(1...10))
                #expect(Set(bob.messages.map(\.message)).count == 10)
                #expect(!bob.events.contains { if case .gap = $0 { true } else { false } })
                let after = try await bob.client.history(room: "durable", since: 0)
                #expect(after.epoch == joined.epoch)
            }
        }
    }
}
