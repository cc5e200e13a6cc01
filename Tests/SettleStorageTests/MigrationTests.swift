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

    @Test("A merchant can be neither deleted, truncated nor renumbered, so no order can lose its merchant")
    func merchantsArePermanent() async throws {
        try await TestDatabase.with { client, _ in
            _ = try await Migrator(client: client, logger: Self.logger).migrate()
            let merchant = UUID()
            try await client.query("INSERT INTO merchants (id, name) VALUES (\(merchant), 'Permanent')", logger: Self.logger)
            for statement: PostgresQuery in ["DELETE FROM merchants WHERE id = \(merchant)",
                                             "UPDATE merchants SET id = gen_random_uuid() WHERE id = \(merchant)",
                                             "TRUNCATE merchants CASCADE"] {
                await #expect(throws: PSQLError.self, "\(statement.sql)") { try await client.query(statement, logger: Self.logger) }
            }
            try await client.query("UPDATE merchants SET name = 'Renamed' WHERE id = \(merchant)", logger: Self.logger)
            var names: [String] = []
            for try await name in try await client.query("SELECT name FROM merchants", logger: Self.logger).decode(String.self) { names.append(name) }
            #expect(names == ["Renamed"], "a name may change; the row stays")
        }
    }

    @Test("An order can be neither deleted, truncated nor renumbered, so no event can lose its order")
    func ordersArePermanent() async throws {
        try await TestDatabase.with { client, _ in
            _ = try await Migrator(client: client, logger: Self.logger).migrate()
            let order = UUID()
            try await client.query("""
                INSERT INTO orders (id, merchant_id, amount, currency, payment_method, status)
                VALUES (\(order), gen_random_uuid(), 100, 'usd', 'pm_card_ok', 'pending')
                """, logger: Self.logger)
            for statement: PostgresQuery in ["DELETE FROM orders WHERE id = \(order)",
                                             "UPDATE orders SET id = gen_random_uuid() WHERE id = \(order)",
                                             "TRUNCATE orders CASCADE"] {
                await #expect(throws: PSQLError.self, "\(statement.sql)") { try await client.query(statement, logger: Self.logger) }
            }
            try await client.query("UPDATE orders SET status = 'succeeded' WHERE id = \(order)", logger: Self.logger)
            var count = 0
            for try await rows in try await client.query("SELECT count(*)::int FROM orders", logger: Self.logger).decode(Int.self) { count = rows }
            #expect(count == 1, "a status may change; the row stays")
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
            CREATE FUNCTION f() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN
                PERFORM pg_notify('c', ''); -- inside the body
                RETURN NULL;
            END;
            $$;
            """)
        #expect(statements.count == 3)
        #expect(Array(statements.prefix(2)) == ["CREATE TABLE a (x text DEFAULT 'a;b')", "CREATE INDEX i ON a (x)"])
        #expect(statements.last?.hasPrefix("CREATE FUNCTION f()") == true)
        #expect(statements.last?.hasSuffix("END;\n$$") == true)
    }
}
