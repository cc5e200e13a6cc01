import ArgumentParser
import Foundation
import SettleDomain
import SettleRuntime
import SettleStorage

/// `settle merchant create`: a merchant and its API key, shown once; `settle merchant keys list`:
/// a merchant's keys, never a key itself.
struct MerchantCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "merchant",
        abstract: "Manage merchants.",
        subcommands: [Create.self, Keys.self]
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

    struct Keys: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "A merchant's API keys.",
            subcommands: [List.self]
        )

        struct List: AsyncParsableCommand {
            static let configuration = CommandConfiguration(
                abstract: "List a merchant's API keys: id, sk_…last four, created, expires, revoked, last used (never the key)."
            )

            @Option(help: "The merchant's id.")
            var merchant: String

            @Flag(help: "Print the keys as GET /v1/api-keys shows them (a JSON array).")
            var json = false

            func validate() throws {
                guard UUID(uuidString: merchant) != nil else { throw ValidationError("--merchant must be a merchant's id (a UUID)") }
            }

            func run() async throws {
                let merchant = UUID(uuidString: self.merchant)!
                let keys = try await CLIDatabase.with(environment: StackEnvironment.load(), name: "settle-merchant") { client, logger in
                    try await Migrator(client: client, logger: logger).migrate()
                    return try await MerchantStore(client: client, logger: logger).keys(merchant: merchant)
                }
                if json {
                    print(String(decoding: SettleJSON.bytes(keys.map(APIKeyObject.init)), as: UTF8.self))
                    return
                }
                guard !keys.isEmpty else {
                    print("no keys for merchant \(merchant.lowercased)")
                    return
                }
                let time = ISO8601DateFormatter()
                func when(_ date: Date?) -> String { date.map(time.string(from:)) ?? "-" }
                for key in keys {
                    let status = key.revokedAt != nil ? "revoked" : (key.expiresAt.map { $0 <= Date() } ?? false) ? "expired" : "active"
                    print("\(key.id.lowercased)  \(APIKey.prefix)…\(key.last4 ?? "????")  \(status)  created \(when(key.createdAt))"
                          + "  expires \(when(key.expiresAt))  revoked \(when(key.revokedAt))  last used \(when(key.lastUsedAt))")
                }
            }
        }
    }
}
