import ArgumentParser
import Foundation
import Logging
import SwitchboardClient
import SwitchboardProtocol

/// `switchboard chat`: a terminal client on the SwitchboardClient SDK. Everything it shows
/// (messages, presence, status, replies to commands) goes through one loop, so the screen is
/// written in one order and no state is shared between tasks.
struct Chat: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Chat in a terminal: type a line to send it to the current room.",
        discussion: """
            Commands:
              /join ROOM     join ROOM and make it the current room
              /leave [ROOM]  leave ROOM (default: the current room)
              /rooms         list joined rooms (* marks the current one)
              /who           members of the current room
              /history [N]   the last N messages of the current room (default 20)
              /quit          leave (end of input does the same)
            Reconnects by itself; status changes are shown as lines starting with --.
            """
    )

    @Option(help: "Server URL: http, https, ws or wss.") var url = "http://127.0.0.1:8080"
    @Option(help: "Username.") var user: String
    @Option(help: "Password (guest-mode servers accept none). Env: SWITCHBOARD_PASSWORD.") var password: String?
    @Option(help: "Room to join first.") var room = "lobby"
    @Option(help: "PEM file of the CA that signed the server's certificate (wss with a private CA).") var caFile: String?
    @Flag(help: "Do not verify the server's TLS certificate (development only).") var insecure = false

    func run() async throws {
        var configuration = ClientConfiguration()
        if insecure {
            configuration.tls = .insecureNoVerification
        } else if let caFile {
            configuration.tls = .customCA(pemFile: caFile)
        }
        var logger = Logger(label: "switchboard.chat")
        logger.logLevel = .critical  // the screen is the chat; status changes are shown as lines
        let client = try SwitchboardClient(
            url: url,
            credentials: .password(username: user, password: password ?? ProcessInfo.processInfo.environment["SWITCHBOARD_PASSWORD"]),
            configuration: configuration, logger: logger
        )
        var session = ChatSession(client: client, screen: ChatScreen(isTerminal: isatty(STDOUT_FILENO) == 1), room: room)
        let (inputs, input) = AsyncStream<ChatSession.Input>.makeStream()
        StandardInputReader.start { line in
            if let line { input.yield(.line(line)) } else { input.yield(.endOfInput) }
        }
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask {
                let reason = await client.run()
                input.yield(.stopped(reason))
            }
            group.addTask { for await event in client.events { input.yield(.event(event)) } }
            group.addTask { for await status in client.status { input.yield(.status(status)) } }
            group.addTask { input.yield(.joined(await Result(catching: { try await client.join(room) }))) }
            for await next in inputs {
                if await session.handle(next, in: &group, input: input) == .quit { break }
            }
            group.cancelAll()
        }
        if case .stopped(let reason) = session.ended, reason == .unauthorized || reason == .forbidden {
            throw ExitCode(2)
        }
    }
}

extension Result where Failure == any Error {
    init(catching body: () async throws -> Success) async {
        do {
            self = .success(try await body())
        } catch {
            self = .failure(error)
        }
    }
}
