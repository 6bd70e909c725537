import Foundation
import NIOCore
import NIOPosix
import NIOSSL
import SwitchboardTestSupport

/// The built `switchboard serve` binary as a separate process on a loopback port: a server the
/// tests can kill (SIGKILL), freeze (SIGSTOP) and restart on the same port, as a real outage.
final class ServerProcess: @unchecked Sendable {
    let port: Int
    /// The flags after `serve --host --port`; a restart may change them.
    var arguments: [String]
    private var process: Process?

    /// `.build/debug/switchboard` next to the tests, or `SWITCHBOARD_BIN`.
    static let binary: String = {
        if let path = ProcessInfo.processInfo.environment["SWITCHBOARD_BIN"] { return path }
        var url = URL(fileURLWithPath: #filePath)
        for _ in 0..<3 { url.deleteLastPathComponent() }
        return url.path + "/.build/debug/switchboard"
    }()

    var url: String { "http://127.0.0.1:\(port)" }

    init(arguments: [String] = []) async throws {
        port = try await Self.freePort()
        self.arguments = arguments
        try await start()
    }

    /// Starts (again) on the same port and waits until `/healthz` answers.
    func start() async throws {
        guard FileManager.default.isExecutableFile(atPath: Self.binary) else {
            throw Failure("no server binary at \(Self.binary): run swift build first, or set SWITCHBOARD_BIN")
        }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: Self.binary)
        process.arguments = ["serve", "--host", "127.0.0.1", "--port", String(port), "--log-level", "info"] + arguments
        // The server's log, for a failing test's post-mortem.
        let log = FileManager.default.temporaryDirectory.appendingPathComponent("switchboard-client-test-\(port).log").path
        FileManager.default.createFile(atPath: log, contents: nil)
        let handle = FileHandle(forWritingAtPath: log)
        handle?.seekToEndOfFile()
        process.standardOutput = handle ?? FileHandle.nullDevice
        process.standardError = handle ?? FileHandle.nullDevice
        try process.run()
        self.process = process
        let deadline = ContinuousClock.now + .seconds(20)
        while ContinuousClock.now < deadline {
            // TCP first: TestHTTPClient is for servers known to be up.
            if let channel = try? await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
                .connect(host: "127.0.0.1", port: port).get() {
                try? await channel.close()
                if try await TestHTTPClient.request("GET", port: port, path: "/healthz", tls: try healthCheckTLS()).status == 200 { return }
            }
            try await Task.sleep(for: .milliseconds(50))
        }
        throw Failure("server did not come up on port \(port)")
    }

    /// A TLS server (`--tls-cert`) is polled over TLS; its certificate is the test's business.
    private func healthCheckTLS() throws -> NIOSSLContext? {
        guard arguments.contains("--tls-cert") else { return nil }
        var configuration = TLSConfiguration.makeClientConfiguration()
        configuration.certificateVerification = .none
        return try NIOSSLContext(configuration: configuration)
    }

    /// SIGKILL: no close frames, no drain, in-memory history gone.
    func kill() {
        guard let process else { return }
        Foundation.kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
        self.process = nil
    }

    /// SIGSTOP: the sockets stay open but nothing answers, not even pings.
    func freeze() {
        if let process { Foundation.kill(process.processIdentifier, SIGSTOP) }
    }

    func thaw() {
        if let process { Foundation.kill(process.processIdentifier, SIGCONT) }
    }

    deinit {
        if let process {
            Foundation.kill(process.processIdentifier, SIGCONT)
            Foundation.kill(process.processIdentifier, SIGKILL)
        }
    }

    struct Failure: Error, CustomStringConvertible {
        var description: String
        init(_ description: String) { self.description = description }
    }

    /// A port the kernel just handed out and released: free unless another process races for it.
    static func freePort() async throws -> Int {
        let channel = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .bind(host: "127.0.0.1", port: 0).get()
        let port = channel.localAddress?.port ?? 0
        try await channel.close()
        return port
    }
}
