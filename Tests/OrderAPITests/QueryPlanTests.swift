import Foundation
import Logging
import PostgresNIO
import SettleDomain
import SettleStorage
import SettleTestSupport
import Testing

/// The hot queries are index scans on tables with enough rows that a sequential scan would
/// cost: checked with `EXPLAIN (FORMAT JSON)` in a schema of this test's own.
@Suite("Query plans")
struct QueryPlanTests {
    @Test("Order by id, order and event pages, idempotency lookup, unpublished outbox rows, the worker's lookup and the dispatcher's claim use indexes; the history reads only its partitions")
    func hotQueriesAreIndexScans() async throws {
        let schema = "plans_" + UniqueName.make("s").replacingOccurrences(of: "-", with: "_")
        let logger = APIHarness.logger
        var configuration = try DatabaseConfiguration.make(url: TestStack.shared.databaseURL, applicationName: "settle-plan-tests")
        configuration.options.additionalStartupParameters.append(("search_path", schema))
        let client = PostgresClient(configuration: configuration, backgroundLogger: logger)
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { await client.run() }
            defer { group.cancelAll() }
            try await client.query("CREATE SCHEMA \(unescaped: schema)", logger: logger)
            do {
                try await Migrator(client: client, logger: logger).migrate()
                try await Self.fill(client, logger: logger)
                let merchant = try await Self.someMerchant(client, logger: logger)
                let order = UUIDv7.make()
                let page = PageRequest(limit: 10)
                let plans: [(String, PostgresQuery)] = [
                    ("order by id", OrderStore.findQuery(order, merchant: merchant)),
                    ("order page", OrderStore.listQuery(merchant: merchant, status: nil, page: page)),
                    ("order page by status", OrderStore.listQuery(merchant: merchant, status: .succeeded, page: page)),
                    ("order page backwards", OrderStore.listQuery(merchant: merchant, status: nil, page: PageRequest(limit: 10, endingBefore: order))),
                    ("event page", EventStore.listQuery(merchant: merchant, type: nil, page: page)),
                    ("idempotency lookup", IdempotencyStore.lookupQuery(merchant: merchant, key: "k-1")),
                    ("unpublished outbox rows", OutboxStore.pendingQuery(shards: [(3, .start), (7, OutboxPosition(xactID: 900, id: 1_000))], limit: 500)),
                    ("the worker's order and inbox lookup", PaymentStore.subjectQuery(order: order, event: UUIDv7.make(), consumer: "settle-worker")),
                    ("the dispatcher's claim", WebhookDeliveryStore.claimQuery(limit: 64, perEndpoint: 4, failures: 5, leaseSeconds: 40, token: UUID())),
                ]
                // The claim takes each endpoint's oldest due deliveries through the per-endpoint index.
                let claimIndexes = try await Self.plan(plans[plans.count - 1].1, client: client, logger: logger).compactMap(\.index)
                #expect(claimIndexes.contains("webhook_deliveries_endpoint_due"), "the claim: \(claimIndexes)")
                let empty = try await Self.emptyTables(client, logger: logger)
                for (name, query) in plans {
                    let nodes = try await Self.plan(query, client: client, logger: logger)
                    #expect(!nodes.isEmpty, "\(name): no plan")
                    // A partition made ahead of time holds nothing: reading it whole costs nothing.
                    let scans = nodes.filter { $0.type == "Seq Scan" && !empty.contains($0.relation ?? "") }
                    #expect(scans.isEmpty, "\(name) must not scan a table sequentially: \(nodes)")
                    #expect(nodes.contains { $0.type.hasPrefix("Index") || $0.type == "Bitmap Index Scan" }, "\(name): \(nodes)")
                }

                // The partitioned history: a lookup by event id reads one month; the idempotency
                // lookup reads only the days a live key can be in; `settle verify`'s time range uses
                // the BRIN index.
                let event = try #require(try await client.query("SELECT id FROM events LIMIT 1", logger: logger).decode(UUID.self).first { _ in true })
                let byID = try await Self.plan(PostgresQuery(unsafeSQL: "SELECT * FROM events WHERE id = $1", binds: Self.binds(event)),
                                               client: client, logger: logger)
                #expect(Set(byID.compactMap(\.relation)).count == 1, "one partition: \(byID)")
                let keyDays = Set(try await Self.plan(IdempotencyStore.lookupQuery(merchant: merchant, key: "k-1"), client: client, logger: logger)
                    .compactMap(\.relation))
                #expect(!keyDays.isEmpty && keyDays.count <= 3 && keyDays.allSatisfy { $0.hasPrefix("idempotency_keys_") },
                        "yesterday and today (tomorrow too in the last minute of a day): \(keyDays)")
                let recent = try await Self.plan(EventStore.sinceQuery(Date().addingTimeInterval(-60)), client: client, logger: logger)
                #expect(recent.contains { $0.index?.hasSuffix("created_at_idx") == true && $0.type == "Bitmap Index Scan" },
                        "the BRIN index on created_at: \(recent)")
            } catch {
                _ = try? await client.query("DROP SCHEMA \(unescaped: schema) CASCADE", logger: logger)
                throw error
            }
            try await client.query("DROP SCHEMA \(unescaped: schema) CASCADE", logger: logger)
        }
    }

    /// 20 merchants with 2,500 orders, events, idempotency keys, outbox and inbox rows each (50,000 of each).
    static func fill(_ client: PostgresClient, logger: Logger) async throws {
        try await client.query("INSERT INTO merchants (id, name) SELECT gen_random_uuid(), 'm' || n FROM generate_series(1, 20) n", logger: logger)
        try await client.query("""
            INSERT INTO orders (id, merchant_id, amount, currency, payment_method, status)
            SELECT gen_random_uuid(), m.id, 100, 'usd', 'pm_card_ok', (ARRAY['pending','succeeded','failed'])[1 + n % 3]
            FROM merchants m, generate_series(1, 2500) n
            """, logger: logger)
        // Made over the last 14 hours, half a second apart, and stored in that order, as events are.
        try await client.query("SELECT settle_create_history_partition('events', now() - interval '1 day')", logger: logger)
        try await client.query("""
            INSERT INTO events (id, merchant_id, order_id, type, data, created_at)
            SELECT settle_uuid_v7(at), merchant_id, id, 'order.created', '{}', at
            FROM (SELECT merchant_id, id, now() - make_interval(secs => row_number() OVER (ORDER BY id) / 2.0) AS at FROM orders) o
            ORDER BY at
            """, logger: logger)
        try await client.query("""
            INSERT INTO idempotency_keys (merchant_id, key, request_method, request_path, request_hash, response_status)
            SELECT merchant_id, 'k-' || row_number() OVER (PARTITION BY merchant_id), 'POST', '/v1/orders', '\\x00', 201 FROM orders
            """, logger: logger)
        try await client.query("""
            INSERT INTO outbox (event_id, topic, key, payload)
            SELECT id, 'orders.v1', order_id::text, '{}' FROM events
            """, logger: logger)
        try await client.query("""
            INSERT INTO inbox (consumer, event_id) SELECT 'settle-worker', id FROM events
            """, logger: logger)
        // 10 webhook endpoints per merchant; a delivery per event, one in ten pending (5,000 due).
        try await client.query("""
            INSERT INTO webhook_endpoints (id, merchant_id, url, secret, enabled_events)
            SELECT gen_random_uuid(), m.id, 'https://example.com/hooks/' || n, 'whsec_x', ARRAY['*'] FROM merchants m, generate_series(1, 10) n
            """, logger: logger)
        try await client.query("""
            INSERT INTO webhook_deliveries (id, event_id, endpoint_id, status, next_attempt_at)
            SELECT gen_random_uuid(), ev.id, endpoint.id, CASE WHEN random() < 0.1 THEN 'pending' ELSE 'succeeded' END, now() - interval '1 second'
            FROM events ev CROSS JOIN LATERAL (
                SELECT id FROM webhook_endpoints e WHERE e.merchant_id = ev.merchant_id ORDER BY id LIMIT 1 OFFSET (abs(hashtext(ev.id::text)) % 10)
            ) endpoint
            """, logger: logger)
        try await client.query("ANALYZE", logger: logger)
    }

    static func someMerchant(_ client: PostgresClient, logger: Logger) async throws -> UUID {
        for try await id in try await client.query("SELECT id FROM merchants LIMIT 1", logger: logger).decode(UUID.self) { return id }
        throw CancellationError()
    }

    struct PlanNode: CustomStringConvertible {
        var type: String
        var relation: String?
        var index: String?
        var description: String { [type, relation, index].compactMap { $0 }.joined(separator: " ") }
    }

    /// Every node of the query's JSON plan: its type, and the table and index it reads.
    static func plan(_ query: PostgresQuery, client: PostgresClient, logger: Logger) async throws -> [PlanNode] {
        let explain = PostgresQuery(unsafeSQL: "EXPLAIN (FORMAT JSON) " + query.sql, binds: query.binds)
        var text = ""
        for try await line in try await client.query(explain, logger: logger).decode(String.self) { text += line }
        var nodes: [PlanNode] = []
        func walk(_ value: Any) {
            if let object = value as? [String: Any] {
                if let type = object["Node Type"] as? String {
                    nodes.append(PlanNode(type: type, relation: object["Relation Name"] as? String, index: object["Index Name"] as? String))
                }
                object.values.forEach(walk)
            } else if let array = value as? [Any] {
                array.forEach(walk)
            }
        }
        walk(try JSONSerialization.jsonObject(with: Data(text.utf8)))
        return nodes
    }

    /// The tables of this schema that ANALYZE found empty.
    static func emptyTables(_ client: PostgresClient, logger: Logger) async throws -> Set<String> {
        let rows = try await client.query("""
            SELECT relname::text FROM pg_class WHERE relkind = 'r' AND reltuples = 0 AND relnamespace = current_schema()::regnamespace
            """, logger: logger)
        var names: Set<String> = []
        for try await name in rows.decode(String.self) { names.insert(name) }
        return names
    }

    static func binds(_ id: UUID) -> PostgresBindings {
        var bindings = PostgresBindings()
        bindings.append(id)
        return bindings
    }
}
