import Foundation
import Logging
import PostgresNIO
import SettleStorage
import SettleTestSupport
import Testing

@Suite("Migrations")
struct MigrationTests {
    static let logger = Logger(label: "settle-storage-tests") { _ in SwiftLogNoOpLogHandler() }

    @Test("From an empty database, then again: the second run applies nothing")
    func fromEmptyAndTwice() async throws {
        try await TestDatabase.with { client, _ in
            let migrator = Migrator(client: client, logger: Self.logger)
            let expected = try MigrationCatalog.all().map(\.version)
            #expect(try await migrator.migrate() == expected)
            #expect(try await migrator.migrate() == [])
            let tables = try await TestDatabase.tables(client)
            for table in ["merchants", "api_keys", "orders", "idempotency_keys", "outbox", "inbox", "events",
                          "webhook_endpoints", "webhook_deliveries", "schema_migrations"] {
                #expect(tables.contains(table), "\(table) exists")
            }
        }
    }

    @Test("Two `settle migrate` processes at once: both succeed, each migration applied once")
    func concurrentProcesses() async throws {
        try await TestDatabase.with { client, url in
            var environment = ProcessInfo.processInfo.environment
            environment["DATABASE_URL"] = url.absoluteString
            let settle = TestStack.executable("settle")
            let first = try ChildProcess(settle, ["migrate"], environment: environment)
            let second = try ChildProcess(settle, ["migrate"], environment: environment)
            try await eventually("both processes to finish", within: .seconds(60)) { first.outputClosed && second.outputClosed }
            let outputs = first.output + second.output
            #expect(outputs.filter { $0.hasPrefix("applied migrations") }.count == 1, "\(outputs)")
            #expect(outputs.filter { $0 == "the database is up to date" }.count == 1, "\(outputs)")
            let rows = try await client.query("SELECT count(*) FROM schema_migrations", logger: Self.logger)
            for try await count in rows.decode(Int.self) {
                #expect(try count == MigrationCatalog.all().count)
            }
        }
    }

    @Test("SQL files split into statements; comments and quoted semicolons are respected")
    func statementSplitting() {
        let statements = SQLScript.statements("""
            -- a comment; with a semicolon
            CREATE TABLE a (x text DEFAULT 'a;b'); -- trailing
            CREATE INDEX i ON a (x);
            """)
        #expect(statements == ["CREATE TABLE a (x text DEFAULT 'a;b')", "CREATE INDEX i ON a (x)"])
    }
}

/// A database of the test's own on the stack's PostgreSQL server, dropped afterwards.
enum TestDatabase {
    static func with(_ body: (PostgresClient, URL) async throws -> Void) async throws {
        let logger = MigrationTests.logger
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

    static func run(on url: URL, _ body: (PostgresClient) async throws -> Void) async throws {
        let client = PostgresClient(configuration: try DatabaseConfiguration.make(url: url, applicationName: "settle-tests"),
                                    backgroundLogger: MigrationTests.logger)
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { await client.run() }
            defer { group.cancelAll() }
            try await body(client)
        }
    }

    static func tables(_ client: PostgresClient) async throws -> Set<String> {
        var names: Set<String> = []
        let rows = try await client.query("SELECT tablename FROM pg_tables WHERE schemaname = 'public'", logger: MigrationTests.logger)
        for try await name in rows.decode(String.self) { names.insert(name) }
        return names
    }
}
