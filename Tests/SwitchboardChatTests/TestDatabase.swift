import Foundation
import Logging
import PostgresNIO
import SwitchboardPostgres

/// A fresh PostgreSQL database per test, on the server `scripts/test` starts
/// (`SWITCHBOARD_TEST_POSTGRES_URL`, a role that may create databases).
enum TestDatabase {
    static let adminURL = ProcessInfo.processInfo.environment["SWITCHBOARD_TEST_POSTGRES_URL"]

    /// Without the URL the PostgreSQL tests cannot run; under CI they run anyway and fail,
    /// so a missing database never passes as a skipped suite.
    static var isConfigured: Bool { adminURL != nil || ProcessInfo.processInfo.environment["CI"] != nil }

    /// Creates an empty database and returns its URL.
    static func create() async throws -> String {
        let name = "sb_test_\(UUID().uuidString.replacingOccurrences(of: "-", with: "").lowercased().prefix(16))"
        try await admin { connection in
            try await connection.query(PostgresQuery(unsafeSQL: "CREATE DATABASE \(name)"), logger: Logger(label: "test-db"))
        }
        var components = try adminComponents()
        components.path = "/\(name)"
        return components.string!
    }

    /// Runs `body` on a connection with the admin role.
    static func admin(_ body: (PostgresConnection) async throws -> Void) async throws {
        let components = try adminComponents()
        let database = String(components.path.dropFirst())
        let configuration = PostgresConnection.Configuration(
            host: components.host ?? "127.0.0.1", port: components.port ?? 5432,
            username: components.user ?? "postgres", password: components.password,
            database: database.isEmpty ? "postgres" : database, tls: .disable
        )
        let connection = try await PostgresConnection.connect(configuration: configuration, id: 0, logger: Logger(label: "test-db"))
        do {
            try await body(connection)
        } catch {
            try? await connection.close()
            throw error
        }
        try await connection.close()
    }

    private static func adminComponents() throws -> URLComponents {
        guard let adminURL, let components = URLComponents(string: adminURL) else {
            throw PostgresClusterTestError("SWITCHBOARD_TEST_POSTGRES_URL is not set: run the tests with scripts/test, which starts PostgreSQL")
        }
        return components
    }

    /// Connects a cluster node to `url` and runs its pool for `body` (no backplane: the
    /// store, tickets and presence on their own).
    static func withCluster<T: Sendable>(
        url: String, nodeName: String = "test", configure: (inout PostgresCluster.Configuration) -> Void = { _ in },
        _ body: @Sendable (PostgresCluster) async throws -> T
    ) async throws -> T {
        var configuration = PostgresCluster.Configuration(url: url, nodeName: nodeName)
        configure(&configuration)
        let cluster = try await PostgresCluster.connect(configuration: configuration, logger: Logger(label: "test-cluster", factory: { _ in SwiftLogNoOpLogHandler() }))
        return try await withThrowingTaskGroup(of: T?.self) { group in
            group.addTask {
                await cluster.database.client.run()
                return nil
            }
            let result = try await body(cluster)
            group.cancelAll()
            return result
        }
    }
}

struct PostgresClusterTestError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}
