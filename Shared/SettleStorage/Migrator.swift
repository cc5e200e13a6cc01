import Logging
import PostgresNIO

/// Applies the shipped migrations in order, each in its own transaction, under a
/// PostgreSQL advisory lock, so concurrent runs (several services starting at once)
/// wait for each other and a second run finds nothing to do. Each run also makes the history
/// partitions the near future needs (`HistoryPartitions`).
public struct Migrator: Sendable {
    /// Arbitrary but fixed: every Settle process uses this key for the migration lock.
    static let lockKey: Int64 = 0x5E77_1E00_0001

    let client: PostgresClient
    let logger: Logger

    public init(client: PostgresClient, logger: Logger) {
        self.client = client
        self.logger = logger
    }

    /// - Returns: the versions applied by this call.
    @discardableResult
    public func migrate(_ migrations: [Migration]? = nil) async throws -> [Int] {
        let migrations = try migrations ?? MigrationCatalog.all()
        return try await client.withConnection { connection in
            // Session-level lock on this one connection; released below or when it closes.
            try await connection.query("SELECT pg_advisory_lock(\(Self.lockKey))", logger: logger)
            do {
                let applied = try await apply(migrations, on: connection)
                try await connection.query("SELECT pg_advisory_unlock(\(Self.lockKey))", logger: logger)
                return applied
            } catch {
                _ = try? await connection.query("SELECT pg_advisory_unlock(\(Self.lockKey))", logger: logger)
                throw error
            }
        }
    }

    private func apply(_ migrations: [Migration], on connection: PostgresConnection) async throws -> [Int] {
        try await connection.query("""
            CREATE TABLE IF NOT EXISTS schema_migrations (
                version integer PRIMARY KEY,
                name text NOT NULL,
                applied_at timestamptz NOT NULL DEFAULT now()
            )
            """, logger: logger)
        var done: Set<Int> = []
        for try await version in try await connection.query("SELECT version FROM schema_migrations", logger: logger).decode(Int.self) {
            done.insert(version)
        }
        var applied: [Int] = []
        for migration in migrations where !done.contains(migration.version) {
            try await connection.query("BEGIN", logger: logger)
            do {
                // The SQL is a file we ship, never input: its statements run as they are.
                for statement in SQLScript.statements(migration.sql) {
                    try await connection.query(PostgresQuery(unsafeSQL: statement), logger: logger)
                }
                try await connection.query(
                    "INSERT INTO schema_migrations (version, name) VALUES (\(migration.version), \(migration.name))",
                    logger: logger
                )
                try await connection.query("COMMIT", logger: logger)
            } catch {
                _ = try? await connection.query("ROLLBACK", logger: logger)
                throw error
            }
            logger.notice("applied migration", metadata: ["migration": "\(migration.name)"])
            applied.append(migration.version)
        }
        // Every start makes the history partitions of the near future that are missing, so a
        // database that no service touched for months takes writes again at once.
        // A partition that cannot be made now (a lock not had within its second) is no reason
        // not to start: the API's retention job makes it within the hour.
        if done.contains(HistoryPartitions.migration) || applied.contains(HistoryPartitions.migration) {
            do {
                try await connection.query("SELECT settle_ensure_history_partitions()", logger: logger)
            } catch {
                logger.warning("history partitions not made; the API's retention job tries again", metadata: ["error": "\(String(reflecting: error))"])
            }
        }
        return applied
    }
}
