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
        let reader = EnvironmentReader(environment)
        let url = try reader.url("DATABASE_URL", default: ServiceSettings.defaultDatabaseURL, schemes: ["postgres", "postgresql"])
        let logger = Logger(label: "settle-migrate") { _ in SwiftLogNoOpLogHandler() }
        let client = PostgresClient(configuration: try DatabaseConfiguration.make(url: url, applicationName: "settle-migrate"), backgroundLogger: logger)
        return try await withThrowingTaskGroup(of: [Int].self) { group in
            group.addTask {
                await client.run()
                return []
            }
            defer { group.cancelAll() }
            do {
                try await DatabaseProbe.connect(url: url, logger: logger)
            } catch {
                throw ValidationError("cannot reach PostgreSQL at \(DatabaseConfiguration.address(of: url)): \(DatabaseProbe.reason(error))")
            }
            do {
                return try await Migrator(client: client, logger: logger).migrate()
            } catch {
                throw ValidationError("migration failed: \(DatabaseProbe.reason(error))")
            }
        }
    }
}
