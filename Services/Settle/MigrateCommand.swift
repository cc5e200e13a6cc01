import ArgumentParser
import Foundation
import Logging
import PostgresNIO
import SettleRuntime
import SettleStorage

struct MigrateCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "migrate",
        abstract: "Apply Settle's SQL migrations to DATABASE_URL (safe to run concurrently and twice)."
    )

    func run() async throws {
        let applied = try await Self.migrate(environment: StackEnvironment.load())
        print(applied.isEmpty ? "the database is up to date" : "applied migrations \(applied.map(String.init).joined(separator: ", "))")
    }

    @discardableResult
    static func migrate(environment: [String: String]) async throws -> [Int] {
        try await CLIDatabase.with(environment: environment, name: "settle-migrate") { client, logger in
            do {
                return try await Migrator(client: client, logger: logger).migrate()
            } catch {
                throw ValidationError("migration failed: \(DatabaseProbe.reason(error))")
            }
        }
    }
}
