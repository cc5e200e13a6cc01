import ArgumentParser
import Foundation
import Logging
import SettleDomain
import SettleRedis
import SettleRuntime
import SettleStorage

/// `settle merchant create`: a merchant and its API key, shown once; `settle merchant keys
/// list|roll|revoke`: an operator's view of a merchant's keys (never a key itself, except the
/// new one a roll prints once) and the means to replace or end them.
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
            subcommands: [List.self, Roll.self, Revoke.self]
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
                    return try await APIKeyStore(client: client, logger: logger).list(merchant: merchant)
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

        struct Roll: AsyncParsableCommand {
            static let configuration = CommandConfiguration(
                abstract: "Make a merchant a new API key (printed once) and set its current keys to expire.",
                discussion: """
                    Without --key every key of the merchant that is neither revoked nor expired expires after \
                    --expire-in seconds (at once by default): the way back in for a merchant who lost its key, \
                    or after a leak whose key is unknown. Every settle-api process is told through Redis.
                    """
            )

            @Option(help: "The merchant's id.")
            var merchant: String

            @Option(help: "Only this key expires (its id, from `settle merchant keys list`).")
            var key: String?

            @Option(name: .customLong("expire-in"), help: "Seconds the expiring keys keep working beside the new one (0 to 604800).")
            var expireIn: Int64 = 0

            @Flag(help: "Print {\"id\":…,\"secret\":…,…} instead of text.")
            var json = false

            func validate() throws {
                guard UUID(uuidString: merchant) != nil else { throw ValidationError("--merchant must be a merchant's id (a UUID)") }
                if let key, UUID(uuidString: key) == nil { throw ValidationError("--key must be a key's id (a UUID)") }
                guard (0...APIKeyRoll.maxOverlapSeconds).contains(expireIn) else {
                    throw ValidationError("--expire-in must be 0 to \(APIKeyRoll.maxOverlapSeconds) seconds (7 days)")
                }
            }

            func run() async throws {
                let merchant = UUID(uuidString: self.merchant)!
                let scope: APIKeyStore.RollScope = key.flatMap(UUID.init(uuidString:)).map { .key($0) } ?? .everyLiveKey
                let overlap = Duration.seconds(expireIn)
                let environment = StackEnvironment.load()
                let outcome = try await CLIDatabase.with(environment: environment, name: "settle-merchant") { client, logger in
                    try await Migrator(client: client, logger: logger).migrate()
                    guard try await MerchantStore(client: client, logger: logger).exists(merchant) else { return nil as APIKeyStore.RollOutcome? }
                    return try await APIKeyStore(client: client, logger: logger).roll(merchant: merchant, scope: scope, overlap: overlap, claim: nil)
                }
                switch outcome {
                case nil:
                    throw ValidationError("no merchant \(merchant.lowercased)")
                case .notFound?:
                    throw ValidationError("merchant \(merchant.lowercased) has no key \(key ?? "") that is neither revoked nor expired")
                case .limitReached?:
                    throw ValidationError("merchant \(merchant.lowercased) has too many live keys; revoke one first")
                case .rolled(let rolled)?:
                    let told = await KeyChange.publish(rolled.expiringHashes, environment: environment)
                    if json {
                        print(String(decoding: SettleJSON.bytes(NewAPIKeyObject(rolled.record, secret: rolled.key)), as: UTF8.self))
                    } else {
                        print("API key   \(rolled.key)   (id \(rolled.record.id.lowercased); shown once: keep it)")
                        for old in rolled.expiring {
                            print("expires   \(old.id.lowercased)  \(APIKey.prefix)…\(old.last4 ?? "????")  at \(ISO8601DateFormatter().string(from: old.expiresAt ?? Date()))")
                        }
                    }
                    if !told { KeyChange.warnUntold() }
                }
            }
        }

        struct Revoke: AsyncParsableCommand {
            static let configuration = CommandConfiguration(
                abstract: "Revoke one of a merchant's API keys: every settle-api process refuses it within a second."
            )

            @Option(help: "The merchant's id.")
            var merchant: String

            @Option(help: "The key's id (from `settle merchant keys list`).")
            var key: String

            func validate() throws {
                guard UUID(uuidString: merchant) != nil else { throw ValidationError("--merchant must be a merchant's id (a UUID)") }
                guard UUID(uuidString: key) != nil else { throw ValidationError("--key must be a key's id (a UUID)") }
            }

            func run() async throws {
                let merchant = UUID(uuidString: self.merchant)!
                let id = UUID(uuidString: key)!
                let environment = StackEnvironment.load()
                let revoked = try await CLIDatabase.with(environment: environment, name: "settle-merchant") { client, logger in
                    try await Migrator(client: client, logger: logger).migrate()
                    return try await APIKeyStore(client: client, logger: logger).revoke(id: id, merchant: merchant, claim: nil)
                }
                guard let revoked else { throw ValidationError("merchant \(merchant.lowercased) has no key \(id.lowercased)") }
                let told = await KeyChange.publish([revoked.hash], environment: environment)
                print("revoked   \(id.lowercased)  \(APIKey.prefix)…\(revoked.record.last4 ?? "????")")
                if !told { KeyChange.warnUntold() }
            }
        }
    }
}

/// Tells the API processes of a key change made from the command line.
enum KeyChange {
    static func publish(_ hashes: [[UInt8]], environment: [String: String]) async -> Bool {
        let logger = Logger(label: "settle-merchant") { _ in SwiftLogNoOpLogHandler() }
        guard let redis = try? RedisClient(url: environment["REDIS_URL"] ?? ServiceSettings.defaultRedisURL, logger: logger) else { return false }
        let told = await APIKeyRevocations.publish(hashes, redis: redis)
        await redis.shutdown()
        return told
    }

    static func warnUntold() {
        FileHandle.standardError.write(Data("""
            warning: Redis could not be told of the change: settle-api processes that still reach it refuse the old key \
            only once they forget it (60 s by default)

            """.utf8))
    }
}
