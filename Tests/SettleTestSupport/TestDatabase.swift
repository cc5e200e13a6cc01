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

    /// - Parameter migrated: a copy of a template that already holds every migration (made once
    ///   per set of migrations), instead of an empty database: a copy is far cheaper than a
    ///   dozen migrations per test on a busy server.
    public static func with(migrated: Bool = false, _ body: (PostgresClient, URL) async throws -> Void) async throws {
        let logger = logger
        let base = TestStack.shared.databaseURL
        let name = UniqueName.make("settle_test").replacingOccurrences(of: "-", with: "_")
        let template = migrated ? try await migratedTemplate.value : nil
        try await run(on: base) { admin in
            if let template {
                try await admin.query("CREATE DATABASE \(unescaped: name) TEMPLATE \(unescaped: template)", logger: logger)
            } else {
                try await admin.query("CREATE DATABASE \(unescaped: name)", logger: logger)
            }
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

    /// The name of a database holding every shipped migration, named by a hash of their SQL so
    /// a change of migrations makes a new one. Built under another name and renamed when done,
    /// so a run killed halfway leaves no half-migrated template behind.
    static let migratedTemplate = Task<String, any Error> {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325  // FNV-1a over every migration's SQL
        for migration in try MigrationCatalog.all() {
            for byte in migration.sql.utf8 { hash = (hash ^ UInt64(byte)) &* 0x100_0000_01b3 }
        }
        let name = "settle_template_" + String(hash, radix: 16)
        let base = TestStack.shared.databaseURL
        var exists = false
        try await run(on: base) { admin in
            for try await found in try await admin.query("SELECT count(*)::int FROM pg_database WHERE datname = \(name)", logger: logger)
                .decode(Int.self) { exists = found > 0 }
        }
        if exists { return name }
        let building = name + "_" + String(UInt32.random(in: 0...UInt32.max), radix: 16)
        try await run(on: base) { admin in try await admin.query("CREATE DATABASE \(unescaped: building)", logger: logger) }
        var components = URLComponents(url: base, resolvingAgainstBaseURL: false)!
        components.path = "/\(building)"
        try await run(on: components.url!) { client in try await Migrator(client: client, logger: logger).migrate() }
        try await run(on: base) { admin in
            // The migrating client's connections may still be closing; a template must have none.
            try await eventually("the template's connections to close", within: .seconds(30)) {
                var open = 0
                for try await count in try await admin.query("""
                    SELECT count(*)::int FROM pg_stat_activity WHERE datname = \(building)
                    """, logger: logger).decode(Int.self) { open = count }
                return open == 0
            }
            var taken = false
            for try await found in try await admin.query("SELECT count(*)::int FROM pg_database WHERE datname = \(name)", logger: logger)
                .decode(Int.self) { taken = found > 0 }
            if taken {
                // Another run made it meanwhile: use theirs.
                try await admin.query("DROP DATABASE \(unescaped: building) WITH (FORCE)", logger: logger)
            } else {
                try await admin.query("ALTER DATABASE \(unescaped: building) RENAME TO \(unescaped: name)", logger: logger)
            }
        }
        return name
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
