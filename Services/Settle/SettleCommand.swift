import ArgumentParser

/// `settle`: the local stack, operations and the development-only roles.
@main
struct SettleCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "settle",
        abstract: "Settle's command line: the local stack, migrations and the development broker.",
        subcommands: [
            UpCommand.self, DownCommand.self, StatusCommand.self, MigrateCommand.self,
            MerchantCommand.self, BrokerCommand.self, ConsumeCommand.self, BenchKafkaCommand.self,
        ]
    )
}
