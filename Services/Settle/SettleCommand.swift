import ArgumentParser

/// `settle`: the local stack, operations and the development-only roles.
@main
struct SettleCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "settle",
        abstract: "Settle's command line: the local stack, its demo, load tests, chaos runs and contract checks, migrations, merchants and dead letters, and the development roles (broker, card-processor simulator, webhook sink).",
        subcommands: [
            UpCommand.self, DownCommand.self, StatusCommand.self, MigrateCommand.self,
            DemoCommand.self, LoadCommand.self, ChaosCommand.self, VerifyCommand.self, MerchantCommand.self, DLQCommand.self, BrokerCommand.self, ProcessorCommand.self, SinkCommand.self, ConsumeCommand.self,
            BenchKafkaCommand.self,
        ]
    )
}
