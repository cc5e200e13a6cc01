import Foundation
import Logging
import PostgresNIO
import SettleStorage
import SettleTestSupport
import Testing

/// `events` in monthly and `idempotency_keys` in daily partitions (migration 0014): what the
/// services make ahead of time, and what retention drops.
@Suite("History partitions")
struct HistoryPartitionTests {
    static let logger = MigrationTests.logger

    @Test("Retention drops the months of events and inbox and the days of keys past it, the old events' deliveries first; newer history stays")
    func retentionDropsOldPartitions() async throws {
        try await TestDatabase.with { client, _ in
            try await Migrator(client: client, logger: Self.logger).migrate()
            let merchant = UUID(), endpoint = UUID()
            let oldMonth = try await Self.make(client, "events", ago: "16 months")
            let oldDay = try await Self.make(client, "idempotency_keys", ago: "3 days")
            let yesterday = try await Self.make(client, "idempotency_keys", ago: "1 day")
            try await client.query("INSERT INTO merchants (id, name) VALUES (\(merchant), 'History')", logger: Self.logger)
            try await client.query("""
                INSERT INTO webhook_endpoints (id, merchant_id, url, secret, enabled_events)
                VALUES (\(endpoint), \(merchant), 'https://example.com/hooks', 'whsec_x', ARRAY['*'])
                """, logger: Self.logger)
            for ago in ["16 months", "0 seconds"] {
                try await client.query("""
                    WITH event AS (
                        INSERT INTO events (id, merchant_id, type, data, created_at)
                        SELECT settle_uuid_v7(now() - \(ago)::interval), \(merchant), 'payment.succeeded', '{}', now() - \(ago)::interval
                        RETURNING id
                    ), handled AS (
                        INSERT INTO inbox (consumer, event_id) SELECT 'settle-worker', id FROM event
                    ), delivery AS (
                        INSERT INTO webhook_deliveries (id, event_id, endpoint_id, status) SELECT gen_random_uuid(), id, \(endpoint), 'succeeded' FROM event
                        RETURNING id
                    )
                    INSERT INTO webhook_attempts (delivery_id, attempt, attempted_at, status_code, latency_ms) SELECT id, 1, now(), 204, 5 FROM delivery
                    """, logger: Self.logger)
            }
            for (key, createdAt) in [("old", "now() - interval '3 days'"), ("yesterday", "date_trunc('day', now(), 'UTC') - interval '1 hour'")] {
                try await client.query(PostgresQuery(unsafeSQL: """
                    INSERT INTO idempotency_keys (merchant_id, key, request_method, request_path, request_hash, response_status, created_at, expires_at)
                    VALUES ($1, $2, 'POST', '/v1/orders', '\\x00', 201, \(createdAt), \(createdAt) + interval '24 hours')
                    """, binds: Self.binds(merchant, key)), logger: Self.logger)
            }

            // A message whose event id is no UUIDv7 leaves its mark in the inbox's default partition.
            try await client.query("INSERT INTO inbox (consumer, event_id) VALUES ('settle-worker', gen_random_uuid())", logger: Self.logger)

            let partitions = HistoryPartitions(client: client, logger: Self.logger)
            let retention = HistoryPartitions.Retention(events: .seconds(400 * 86_400))
            let oldInbox = oldMonth.replacingOccurrences(of: "events_", with: "inbox_")
            #expect(try await partitions.dropExpired(retention) == [oldMonth, oldDay, oldInbox])
            #expect(try await Self.count(client, "events") == 1, "this month's event stays")
            #expect(try await Self.count(client, "webhook_deliveries") == 1, "the old event's delivery went first")
            #expect(try await Self.count(client, "webhook_attempts") == 1)
            #expect(try await Self.count(client, "inbox") == 2, "this month's mark and the default partition's stay")
            #expect(try await Self.keys(client) == ["yesterday"], "a key of yesterday may still be live")
            let tables = try await TestDatabase.tables(client)
            #expect(!tables.contains(oldMonth) && !tables.contains(oldDay) && !tables.contains(oldInbox), "detached and dropped")
            #expect(tables.contains(yesterday))
            #expect(try await partitions.dropExpired(retention) == [], "nothing more is past retention")
            #expect(try await partitions.dropExpired(HistoryPartitions.Retention(events: nil)) == [], "events kept for ever")
        }
    }

    @Test("The partition and key functions find Settle's tables whatever the caller's search_path")
    func functionsFindTheirSchema() async throws {
        try await TestDatabase.with { client, _ in
            try await Migrator(client: client, logger: Self.logger).migrate()
            let merchant = UUID()
            try await client.query("INSERT INTO merchants (id, name) VALUES (\(merchant), 'Search path')", logger: Self.logger)
            var schema = ""
            for try await name in try await client.query("SELECT quote_ident(current_schema())", logger: Self.logger).decode(String.self) {
                schema = name
            }
            try await client.withConnection { connection in
                // A session that sees none of Settle's objects unless it names their schema.
                try await connection.query("SET search_path = pg_catalog", logger: Self.logger)
                var made = 0
                // Keys ten days ahead: more than the migration made, so there are days to make.
                for try await count in try await connection.query(PostgresQuery(unsafeSQL: """
                    SELECT \(schema).settle_ensure_history_partitions(2, 10)
                    """), logger: Self.logger).decode(Int.self) { made = count }
                #expect(made > 0, "the partitions were made (a failure to make one is only a warning)")
                var taken = 0
                for try await count in try await connection.query(PostgresQuery(unsafeSQL: """
                    SELECT count(*)::int FROM \(schema).settle_take_idempotency_keys(
                        ARRAY[$1::uuid], ARRAY['search-path'], 'POST', '/v1/orders', ARRAY['\\x00'::bytea], ARRAY[gen_random_uuid()],
                        NULL, NULL, 60, 86400)
                    """, binds: Self.binds(merchant)), logger: Self.logger).decode(Int.self) { taken = count }
                #expect(taken == 1)
                _ = try await connection.query(PostgresQuery(unsafeSQL: """
                    SELECT count(*) FROM \(schema).settle_expired_history_partitions(interval '1 day', interval '1 day')
                    """), logger: Self.logger)
                try await connection.query("RESET search_path", logger: Self.logger)
            }
            #expect(try await Self.keys(client) == ["search-path"])
            let tables = try await TestDatabase.tables(client)
            #expect(tables.contains(try await Self.name(client, "idempotency_keys", at: "now() + interval '10 days'")),
                    "the tenth day's keys have their partition, in Settle's schema")
        }
    }

    @Test("ANALYZE keeps no statistics of events' data, orders' metadata, outbox messages or keys' answers, in partitions made later too; other columns keep theirs")
    func noStatisticsOfPayloads() async throws {
        try await TestDatabase.with { client, _ in
            try await Migrator(client: client, logger: Self.logger).migrate()
            let merchant = UUID()
            try await client.query("INSERT INTO merchants (id, name) VALUES (\(merchant), 'Statistics')", logger: Self.logger)
            try await client.query("""
                INSERT INTO orders (id, merchant_id, amount, currency, payment_method, description, metadata, status)
                SELECT settle_uuid_v7(now()), \(merchant), n, 'usd', 'pm_card_ok', 'order ' || n, jsonb_build_object('n', n::text), 'pending'
                FROM generate_series(1, 200) n
                """, logger: Self.logger)
            try await client.query("""
                INSERT INTO events (id, merchant_id, order_id, type, data, created_at)
                SELECT settle_uuid_v7(now()), merchant_id, id, 'order.created', jsonb_build_object('object', to_jsonb(orders)), now() FROM orders
                """, logger: Self.logger)
            try await client.query("""
                INSERT INTO outbox (event_id, topic, key, payload, headers)
                SELECT id, 'orders.v1', order_id::text, data::text, '{"event-type":"order.created"}' FROM events
                """, logger: Self.logger)
            try await client.query("""
                INSERT INTO idempotency_keys (merchant_id, key, request_method, request_path, request_hash, response_status, response_body)
                SELECT merchant_id, 'k-' || id, 'POST', '/v1/orders', sha256(id::text::bytea), 201, convert_to(metadata::text, 'UTF8') FROM orders
                """, logger: Self.logger)
            try await client.query("ANALYZE", logger: Self.logger)
            var kept: Set<String> = []
            for try await (table, column) in try await client.query("""
                SELECT tablename::text, attname::text FROM pg_stats WHERE schemaname = current_schema()
                """, logger: Self.logger).decode((String, String).self) {
                kept.insert("\(table.hasPrefix("events_") ? "events" : table.hasPrefix("idempotency_keys_") ? "idempotency_keys" : table).\(column)")
            }
            #expect(kept.contains("orders.merchant_id") && kept.contains("events.merchant_id") && kept.contains("outbox.shard")
                    && kept.contains("idempotency_keys.merchant_id"), "ANALYZE ran: \(kept.sorted())")
            let payloads: Set = ["events.data", "orders.metadata", "orders.description", "outbox.payload", "outbox.headers",
                                 "idempotency_keys.response_body", "idempotency_keys.request_hash"]
            #expect(kept.intersection(payloads).isEmpty, "statistics of \(kept.intersection(payloads).sorted())")

            // A month and a day made after the migration keep their parent's choice.
            try await client.query("SELECT settle_create_history_partition('events', now() + interval '7 months')", logger: Self.logger)
            try await client.query("SELECT settle_create_history_partition('idempotency_keys', now() + interval '20 days')", logger: Self.logger)
            let month = try await Self.name(client, "events", at: "now() + interval '7 months'")
            let day = try await Self.name(client, "idempotency_keys", at: "now() + interval '20 days'")
            var targets: [String: Int] = [:]
            for try await (table, column, target) in try await client.query("""
                SELECT c.relname::text, a.attname::text, a.attstattarget::int FROM pg_attribute AS a JOIN pg_class AS c ON c.oid = a.attrelid
                WHERE c.relname IN (\(month), \(day)) AND c.relnamespace = current_schema()::regnamespace AND a.attnum > 0
                """, logger: Self.logger).decode((String, String, Int).self) {
                targets["\(table).\(column)"] = target
            }
            #expect(targets["\(month).data"] == 0 && targets["\(day).response_body"] == 0 && targets["\(day).request_hash"] == 0,
                    "\(targets)")
            #expect(targets["\(month).merchant_id"] == -1, "other columns keep the default: \(targets)")
        }
    }

    @Test("A detach interrupted half way is finished by the next run, and a partition detached but not dropped is dropped")
    func interruptedDetachIsFinished() async throws {
        try await TestDatabase.with { client, _ in
            try await Migrator(client: client, logger: Self.logger).migrate()
            let oldDay = try await Self.make(client, "idempotency_keys", ago: "3 days")
            // A run that stopped between its detach and its drop left this one on its own.
            let detachedDay = try await Self.make(client, "idempotency_keys", ago: "4 days")
            try await client.query(PostgresQuery(unsafeSQL: "ALTER TABLE idempotency_keys DETACH PARTITION \(detachedDay)"), logger: Self.logger)
            try await client.withConnection { reader in
                // A transaction that reads the keys holds DETACH CONCURRENTLY in its second phase.
                try await reader.query("BEGIN", logger: Self.logger)
                try await reader.query("SELECT count(*) FROM idempotency_keys", logger: Self.logger)
                try await client.withConnection { detacher in
                    try await detacher.query("SET statement_timeout = '1s'", logger: Self.logger)
                    await #expect(throws: PSQLError.self, "cancelled while it waits") {
                        try await detacher.query(PostgresQuery(unsafeSQL: "ALTER TABLE idempotency_keys DETACH PARTITION \(oldDay) CONCURRENTLY"),
                                                 logger: Self.logger)
                    }
                }
                try await reader.query("COMMIT", logger: Self.logger)
            }
            let pending = try await client.query("""
                SELECT i.inhdetachpending FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid WHERE c.relname = \(oldDay)
                """, logger: Self.logger).decode(Bool.self).first { _ in true }
            #expect(pending == true, "left pending detach")
            #expect(try await HistoryPartitions(client: client, logger: Self.logger).dropExpired(.init(events: nil)) == [detachedDay, oldDay])
            let tables = try await TestDatabase.tables(client)
            #expect(!tables.contains(oldDay) && !tables.contains(detachedDay))
        }
    }

    @Test("Every start makes the partitions of the coming months and days that are missing")
    func startMakesMissingPartitions() async throws {
        try await TestDatabase.with { client, _ in
            let migrator = Migrator(client: client, logger: Self.logger)
            let (nextMonth, dayAfterTomorrow) = try await Self.dropComingPartitions(client, migrator)
            #expect(try await migrator.migrate() == [], "nothing to migrate")
            #expect(try await TestDatabase.tables(client).isSuperset(of: [nextMonth, dayAfterTomorrow]), "made again")
        }
    }

    @Test("A start whose day of keys cannot be made (the table locked past a second) still starts and makes the months of events")
    func lockedTableDoesNotFailStart() async throws {
        try await TestDatabase.with { client, _ in
            let migrator = Migrator(client: client, logger: Self.logger)
            let (nextMonth, dayAfterTomorrow) = try await Self.dropComingPartitions(client, migrator)
            try await client.withConnection { holder in
                // A long schema change (or a stuck session) holds the keys' table.
                try await holder.query("BEGIN", logger: Self.logger)
                try await holder.query("LOCK TABLE idempotency_keys IN ACCESS EXCLUSIVE MODE", logger: Self.logger)
                #expect(try await migrator.migrate() == [], "the start went on")
                try await holder.query("ROLLBACK", logger: Self.logger)
            }
            let tables = try await TestDatabase.tables(client)
            #expect(tables.contains(nextMonth), "the months of events were made all the same")
            #expect(!tables.contains(dayAfterTomorrow))
            #expect(try await HistoryPartitions(client: client, logger: Self.logger).ensure() == 1, "the day is made once the lock is gone")
        }
    }

    @Test("Taking keys reads each day's index, even with plans made while the day's partition was empty (a connection's generic plans)")
    func keyProbesUseIndexesOnNewPartitions() async throws {
        try await TestDatabase.with { client, _ in
            try await Migrator(client: client, logger: Self.logger).migrate()
            let today = try await Self.name(client, "idempotency_keys", at: "now()")
            try await client.withConnection { connection in
                // What a long-lived connection does after its first calls: reuse a generic plan.
                try await connection.query("SET plan_cache_mode = force_generic_plan", logger: Self.logger)
                for batch in 0..<8 {
                    let keys = (0..<5).map { "k-\(batch)-\($0)" }, merchants = keys.map { _ in UUID() }
                    let hashes = keys.map { _ in ByteBuffer(bytes: [0]) }
                    try await connection.query("""
                        SELECT count(*) FROM settle_take_idempotency_keys(\(merchants), \(keys), 'POST', '/v1/orders', \(hashes), NULL, 201, \(hashes), 60, 86400)
                        """, logger: Self.logger)
                }
                try await connection.query("SELECT pg_stat_force_next_flush()", logger: Self.logger)
            }
            try await eventually("the day's partition to count the calls' scans") {
                let scans = try await Self.scans(client, today)
                return scans.index > 0 || scans.sequential > 2
            }
            // Making the partition read it whole twice (its unique index built, its bounds checked
            // when attached); a probe by a sequential scan would add one per call and statement.
            let scans = try await Self.scans(client, today)
            #expect(scans.sequential <= 2, "\(today) scanned whole \(scans.sequential) times")
        }
    }

    /// How often a table was read whole, and through an index, as its statistics say.
    static func scans(_ client: PostgresClient, _ table: String) async throws -> (sequential: Int, index: Int) {
        let rows = try await client.query("""
            SELECT coalesce(seq_scan, 0)::int, coalesce(idx_scan, 0)::int FROM pg_stat_user_tables WHERE relname = \(table)
            """, logger: logger)
        for try await (sequential, index) in rows.decode((Int, Int).self) { return (sequential, index) }
        return (0, 0)
    }

    /// Makes the partition of `parent` for the month or day `ago` before now; returns its name.
    @Test("Dead letters replayed longer ago than events are kept are deleted, in rounds; open ones stay however old")
    func replayedDeadLettersExpire() async throws {
        try await TestDatabase.with { client, _ in
            try await Migrator(client: client, logger: Self.logger).migrate()
            // 1,001 replayed 500 days ago (more than one round), one replayed yesterday, one open of 500 days.
            try await client.query("""
                INSERT INTO dead_letters (topic, original_topic, source_topic, source_partition, source_offset, consumer_group, payload,
                                          headers, error_class, error_message, attempts, dead_letter_count, first_failed_at,
                                          created_at, replayed_at)
                SELECT 'orders.v1.dlq', 'orders.v1', 'orders.v1', 0, n, 'settle-worker', '\\x00', '[]', 'permanent', 'declined', 1, 1,
                       now() - interval '501 days', now() - interval '501 days',
                       CASE WHEN n <= 1001 THEN now() - interval '500 days' WHEN n = 1002 THEN now() - interval '1 day' END
                FROM generate_series(1, 1003) n
                """, logger: Self.logger)
            let store = DeadLetterStore(client: client, logger: Self.logger)
            #expect(try await store.deleteReplayed(olderThan: .seconds(400 * 86_400)) == 1001)
            var left: [Int64] = []
            for try await offset in try await client.query("SELECT source_offset FROM dead_letters ORDER BY source_offset", logger: Self.logger)
                .decode(Int64.self) { left.append(offset) }
            #expect(left == [1002, 1003], "the one replayed yesterday and the open one stay")
            #expect(try await store.depth() == ["orders.v1.dlq": 1])
        }
    }

    /// Migrates, then drops next month's partition of events and the day after tomorrow's of keys
    /// (as if no service had run since they were due); returns their names.
    static func dropComingPartitions(_ client: PostgresClient, _ migrator: Migrator) async throws -> (month: String, day: String) {
        try await migrator.migrate()
        let nextMonth = try await name(client, "events", at: "now() + interval '1 month'")
        let dayAfterTomorrow = try await name(client, "idempotency_keys", at: "now() + interval '2 days'")
        #expect(try await TestDatabase.tables(client).isSuperset(of: [nextMonth, dayAfterTomorrow]))
        // A month of events is detached first: the deliveries' foreign key depends on each partition.
        try await client.query(PostgresQuery(unsafeSQL: "ALTER TABLE events DETACH PARTITION \(nextMonth)"), logger: logger)
        try await client.query(PostgresQuery(unsafeSQL: "DROP TABLE \(nextMonth), \(dayAfterTomorrow)"), logger: logger)
        return (nextMonth, dayAfterTomorrow)
    }

    static func make(_ client: PostgresClient, _ parent: String, ago: String) async throws -> String {
        try await client.query("SELECT settle_create_history_partition(\(parent), now() - \(ago)::interval)", logger: logger)
        return try await name(client, parent, at: "now() - interval '\(ago)'")
    }

    /// The name `settle_create_history_partition` gives the partition of `parent` holding `at` (SQL).
    static func name(_ client: PostgresClient, _ parent: String, at: String) async throws -> String {
        let format = parent == "events" ? "YYYY_MM" : "YYYY_MM_DD"
        let rows = try await client.query(PostgresQuery(unsafeSQL: "SELECT to_char((\(at)) AT TIME ZONE 'UTC', '\(format)')"), logger: logger)
        for try await suffix in rows.decode(String.self) { return parent + "_" + suffix }
        return ""
    }

    static func count(_ client: PostgresClient, _ table: String) async throws -> Int {
        for try await count in try await client.query(PostgresQuery(unsafeSQL: "SELECT count(*)::int FROM \(table)"), logger: logger).decode(Int.self) {
            return count
        }
        return -1
    }

    static func keys(_ client: PostgresClient) async throws -> [String] {
        var keys: [String] = []
        for try await key in try await client.query("SELECT key FROM idempotency_keys ORDER BY key", logger: logger).decode(String.self) { keys.append(key) }
        return keys
    }

    static func binds(_ merchant: UUID) -> PostgresBindings {
        var bindings = PostgresBindings()
        bindings.append(merchant)
        return bindings
    }

    static func binds(_ merchant: UUID, _ key: String) -> PostgresBindings {
        var bindings = PostgresBindings()
        bindings.append(merchant)
        bindings.append(key)
        return bindings
    }
}
