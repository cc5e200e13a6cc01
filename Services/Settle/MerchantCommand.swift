import ArgumentParser
import Foundation
import SettleDomain
import SettleRuntime
import SettleStorage

/// `settle merchant create`: a merchant and its API key, shown once.
struct MerchantCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "merchant",
        abstract: "Manage merchants.",
        subcommands: [Create.self]
    )

    struct Create: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Create a merchant and print its API key (shown once; only its SHA-256 is stored)."
        )

        @Option(help: "The merchant's name (1 to 200 characters).")
        var name: String

        @Flag(help: "Print {\"id\":…,\"api_key\":…} instead of text.")
        var json = false

        func validate() throws {
            guard (1...200).contains(name.count) else { throw ValidationError("--name must be 1 to 200 characters") }
        }

        func run() async throws {
            let name = self.name
            let created = try await CLIDatabase.with(environment: StackEnvironment.load(), name: "settle-merchant") { client, logger in
                try await Migrator(client: client, logger: logger).migrate()
                return try await MerchantStore(client: client, logger: logger).create(name: name)
            }
            if json {
                struct Output: Encodable {
                    var id: String
                    var apiKey: String
                    enum CodingKeys: String, CodingKey { case id, apiKey = "api_key" }
                }
                print(String(decoding: SettleJSON.bytes(Output(id: created.id.lowercased, apiKey: created.apiKey)), as: UTF8.self))
            } else {
                print("merchant \(created.id.lowercased) (\(name))")
                print("API key   \(created.apiKey)   (shown once: keep it)")
            }
        }
    }
}
