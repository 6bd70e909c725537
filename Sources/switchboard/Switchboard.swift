import ArgumentParser

@main
struct SwitchboardCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "switchboard",
        abstract: "A real-time WebSocket messaging server.",
        subcommands: [Serve.self, Bench.self, Chat.self],
        defaultSubcommand: Serve.self
    )
}
