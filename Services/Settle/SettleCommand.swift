import ArgumentParser
import Foundation

/// `settle`: the local stack, operations and the development-only roles.
@main
struct SettleCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "settle",
        abstract: "Settle's command line: the local stack, its demo, load tests, chaos runs and contract checks, migrations, merchants and dead letters, and the development roles (broker, card-processor simulator, webhook sink).",
        subcommands: [
            UpCommand.self, DownCommand.self, StatusCommand.self, MigrateCommand.self,
            DemoCommand.self, LoadCommand.self, ChaosCommand.self, VerifyCommand.self, BackupCommand.self, RestoreCommand.self, MerchantCommand.self, DLQCommand.self, BrokerCommand.self, ProcessorCommand.self, SinkCommand.self, ConsumeCommand.self,
            BenchKafkaCommand.self,
        ]
    )

    static func main() async {
        // A line at a time even into a file or a pipe: a progress line written by a long run
        // (`settle load`, `settle chaos` under CI or `tee`) shows when it is written, not at exit.
        // (C's `stdout` is read through its symbol: Swift 6 refuses the global variable itself.)
        if let symbol = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "stdout"),
           let output = symbol.assumingMemoryBound(to: UnsafeMutablePointer<FILE>?.self).pointee {
            setvbuf(output, nil, _IOLBF, 0)
        }
        // A reader that goes away (`settle down | head`) makes the next write fail with EPIPE
        // instead of killing the process by SIGPIPE halfway through stopping the stack.
        signal(SIGPIPE, SIG_IGN)
        await main(nil)
    }
}
