import Foundation
import Logging
import PostgresNIO
import SettleStorage

/// A database of the test's own on the stack's PostgreSQL server, dropped afterwards.
public enum TestDatabase {
    static let logger: Logger = {
        var logger = Logger(label: "settle-tests")
        logger.logLevel = .critical
        return logger
    }()

    public static func with(_ body: (PostgresClient, URL) async throws -> Void) async throws {
        let logger = logger
        let base = TestStack.shared.databaseURL
        let name = UniqueName.make("settle_test").replacingOccurrences(of: "-", with: "_")
        try await run(on: base) { admin in
            try await admin.query("CREATE DATABASE \(unescaped: name)", logger: logger)
        }
        var components = URLComponents(url: base, resolvingAgainstBaseURL: false)!
        components.path = "/\(name)"
        let url = components.url!
        do {
            try await run(on: url) { client in try await body(client, url) }
        } catch {
            try? await run(on: base) { admin in try await admin.query("DROP DATABASE \(unescaped: name) WITH (FORCE)", logger: logger) }
            throw error
        }
        try await run(on: base) { admin in try await admin.query("DROP DATABASE \(unescaped: name) WITH (FORCE)", logger: logger) }
    }

    public static func run(on url: URL, _ body: (PostgresClient) async throws -> Void) async throws {
        let client = PostgresClient(configuration: try DatabaseConfiguration.make(url: url, applicationName: "settle-tests"),
                                    backgroundLogger: logger)
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { await client.run() }
            defer { group.cancelAll() }
            try await body(client)
        }
    }

    public static func tables(_ client: PostgresClient) async throws -> Set<String> {
        var names: Set<String> = []
        let rows = try await client.query("SELECT tablename FROM pg_tables WHERE schemaname = 'public'", logger: logger)
        for try await name in rows.decode(String.self) { names.insert(name) }
        return names
    }
}
