import ArgumentParser
import Foundation
import Logging
import PostgresNIO
import SettleRuntime
import SettleStorage

/// A PostgreSQL client for one `settle` command, on `DATABASE_URL` from the environment or
/// `.settle/stack.env`; an unreachable server is a one-line error.
enum CLIDatabase {
    /// `DATABASE_URL`, checked.
    static func databaseURL(_ environment: [String: String]) throws -> URL {
        try EnvironmentReader(environment).url("DATABASE_URL", default: ServiceSettings.defaultDatabaseURL, schemes: ["postgres", "postgresql"])
    }

    static func with<Result: Sendable>(
        environment: [String: String], name: String,
        _ body: @Sendable (PostgresClient, Logger) async throws -> Result
    ) async throws -> Result {
        let url = try databaseURL(environment)
        let logger = Logger(label: name) { _ in SwiftLogNoOpLogHandler() }
        let client = PostgresClient(configuration: try DatabaseConfiguration.make(url: url, applicationName: name), backgroundLogger: logger)
        return try await withThrowingTaskGroup(of: Result?.self) { group in
            group.addTask {
                await client.run()
                return nil
            }
            defer { group.cancelAll() }
            do {
                try await DatabaseProbe.connect(url: url, logger: logger)
            } catch {
                throw ValidationError("cannot reach PostgreSQL at \(DatabaseConfiguration.address(of: url)): \(DatabaseProbe.reason(error))")
            }
            return try await body(client, logger)
        }
    }
}
