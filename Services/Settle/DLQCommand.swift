import ArgumentParser

/// `settle dlq`: what consumers dead-lettered, and sending it back.
struct DLQCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "dlq",
        abstract: "List dead-lettered messages and replay them to their original topic.",
        subcommands: [DLQListCommand.self, DLQReplayCommand.self]
    )
}
