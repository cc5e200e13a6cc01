import Foundation
import Logging
import PostgresNIO

/// Settle's history in time partitions (migration 0014): `events` by month, `idempotency_keys`
/// by day. `ensure` makes the partitions of the near future; `dropExpired` detaches and drops
/// those whose rows are all past retention, so the tables hold a bounded window and retention
/// costs no DELETE. Run by every service start (`Migrator`) and by the API's `HistoryRetention`.
public struct HistoryPartitions: Sendable {
    /// The migration that partitions the history.
    static let migration = 14
    /// The session lock that lets one process at a time drop partitions.
    static let lockNamespace: Int32 = 0x5E77_0A27

    public struct Retention: Sendable {
        /// How long events are kept (whole months past it are dropped); nil: for ever.
        public var events: Duration?
        /// How long idempotency keys hold their answer (whole days past it are dropped).
        public var idempotencyKeys: Duration

        public init(events: Duration?, idempotencyKeys: Duration = .seconds(24 * 3600)) {
            self.events = events
            self.idempotencyKeys = idempotencyKeys
        }
    }

    let client: PostgresClient
    let logger: Logger

    public init(client: PostgresClient, logger: Logger) {
        self.client = client
        self.logger = logger
    }

    /// Makes the partitions of this month and the next two, and of today and the next three days,
    /// that are missing. Returns how many it made.
    @discardableResult
    public func ensure() async throws -> Int {
        for try await made in try await client.query("SELECT settle_ensure_history_partitions()", logger: logger).decode(Int.self) {
            return made
        }
        return 0
    }

    /// Drops every partition past retention; an events partition's webhook deliveries (and their
    /// attempts) go first, since PostgreSQL keeps a partition whose events they still reference.
    /// A partition is detached CONCURRENTLY (writers to the table never wait for it; the inbox's,
    /// whose table has a default partition, under a lock waited for at most a second), then
    /// dropped; a detach interrupted earlier is finished, and a partition detached by a run that
    /// stopped before its drop is dropped. Returns the partitions dropped. Does
    /// nothing while another process is dropping.
    @discardableResult
    public func dropExpired(_ retention: Retention) async throws -> [String] {
        try await client.withConnection { connection in
            var locked = false
            for try await taken in try await connection.query(
                "SELECT pg_try_advisory_lock(\(Self.lockNamespace), 2)", logger: logger).decode(Bool.self) { locked = taken }
            guard locked else { return [] }
            do {
                let dropped = try await dropExpired(retention, on: connection)
                try await connection.query("SELECT pg_advisory_unlock(\(Self.lockNamespace), 2)", logger: logger)
                return dropped
            } catch {
                _ = try? await connection.query("SELECT pg_advisory_unlock(\(Self.lockNamespace), 2)", logger: logger)
                throw error
            }
        }
    }

    private func dropExpired(_ retention: Retention, on connection: PostgresConnection) async throws -> [String] {
        let eventSeconds = retention.events.map { Double($0.components.seconds) }
        let keySeconds = Double(retention.idempotencyKeys.components.seconds)
        // The statements name tables, which cannot be bound: `format('%I')` quotes the names the
        // catalog gives, and nothing of them comes from input.
        let rows = try await connection.query("""
            SELECT name, low_id, high_id, parent = 'inbox' AND NOT pending,
                   CASE WHEN attached THEN format('ALTER TABLE %I DETACH PARTITION %I %s', parent, name,
                          CASE WHEN pending THEN 'FINALIZE' WHEN parent = 'inbox' THEN '' ELSE 'CONCURRENTLY' END) END,
                   format('DROP TABLE %I', name)
            FROM settle_expired_history_partitions(\(eventSeconds) * interval '1 second', \(keySeconds) * interval '1 second')
            """, logger: logger)
        var expired: [(name: String, low: UUID?, high: UUID?, locking: Bool, detach: String?, drop: String)] = []
        for try await (name, low, high, locking, detach, drop) in rows.decode((String, UUID?, UUID?, Bool, String?, String).self) {
            expired.append((name, low, high, locking, detach, drop))
        }
        var dropped: [String] = []
        for partition in expired {
            if let low = partition.low, let high = partition.high {
                try await connection.query("""
                    WITH gone AS (
                        SELECT id FROM webhook_deliveries WHERE event_id >= \(low) AND event_id < \(high)
                    ), attempts AS (
                        DELETE FROM webhook_attempts WHERE delivery_id IN (SELECT id FROM gone)
                    )
                    DELETE FROM webhook_deliveries WHERE id IN (SELECT id FROM gone)
                    """, logger: logger)
            }
            switch (partition.detach, partition.locking) {
            case (nil, _):
                // Detached already by a run that stopped before dropping it.
                try await connection.query(PostgresQuery(unsafeSQL: partition.drop), logger: logger)
            case (let detach?, true):
                // The inbox has a default partition, and PostgreSQL detaches from such a table only
                // under its ACCESS EXCLUSIVE lock: waited for at most a second (writers queue
                // behind the wait), tried again next run if it cannot be had.
                try await connection.query("BEGIN", logger: logger)
                do {
                    try await connection.query("SET LOCAL lock_timeout = '1s'", logger: logger)
                    try await connection.query(PostgresQuery(unsafeSQL: detach), logger: logger)
                    try await connection.query(PostgresQuery(unsafeSQL: partition.drop), logger: logger)
                    try await connection.query("COMMIT", logger: logger)
                } catch {
                    _ = try? await connection.query("ROLLBACK", logger: logger)
                    throw error
                }
            case (let detach?, false):
                try await connection.query(PostgresQuery(unsafeSQL: detach), logger: logger)
                try await connection.query(PostgresQuery(unsafeSQL: partition.drop), logger: logger)
            }
            logger.notice("history partition dropped", metadata: ["partition": "\(partition.name)"])
            dropped.append(partition.name)
        }
        return dropped
    }
}
