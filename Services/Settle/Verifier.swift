import AsyncHTTPClient
import Foundation
import Logging
import PostgresNIO
import SettleDomain
import SettleKafka
import SettleRuntime
import SettleStorage

/// The checks `settle verify` runs. Each reads one independent source and compares it with
/// another; none trusts the state a service wrote about its own success.
struct Verifier: Sendable {
    let environment: [String: String]
    let brokers: String
    let topicPrefix: String
    let sinkURL: String?
    let processorSchema: ProcessorSchemaName
    let since: Date
    let history: LoadHistory?
    /// The `started_at` of the development broker `settle restore` last queued every event again
    /// for (nil if the stack was never restored).
    let restoredForBroker: Double?

    struct Check: Sendable {
        var name: String
        var checked = 0
        var violations = 0
        /// Still in flight when judged (after the wait): stuck.
        var stuck = 0
        var examples: [String] = []
        var skipped: String?

        init(_ name: String) { self.name = name }

        var failed: Bool { violations > 0 || stuck > 0 }

        mutating func violation(_ example: @autoclosure () -> String) {
            violations += 1
            if examples.count < 5 { examples.append(example()) }
        }

        mutating func inFlight(_ example: @autoclosure () -> String) {
            stuck += 1
            if examples.count < 5 { examples.append(example()) }
        }
    }

    /// Waits (at most `settle`) until nothing checked in PostgreSQL is in flight, then runs every check.
    func run(settle: Duration, progress: @Sendable (String) -> Void) async throws -> [Check] {
        try await CLIDatabase.with(environment: environment, name: "settle-verify") { client, logger in
            let end = ContinuousClock.now + settle
            var database: [Check] = []
            var announced = false
            while true {
                database = [try await outcomes(client, logger), try await charges(client, logger), try await webhooks(client, logger)]
                let backlog = try await outboxBacklog(client, logger)
                let waiting = database.reduce(0) { $0 + $1.stuck } + backlog
                if waiting == 0 || ContinuousClock.now >= end { break }
                if !announced {
                    progress("waiting up to \(settle) for \(waiting) order(s), event(s) and webhook(s) still in flight…")
                    announced = true
                }
                try await Task.sleep(for: .seconds(1))
            }
            var checks = try await accepted(client, logger)
            checks += database
            checks.insert(try await kafka(client, logger), at: checks.count - 1)
            return checks
        }
    }

    // MARK: the load's answers

    /// Every 201 the load saw is an order in PostgreSQL, and no idempotency key made two orders.
    private func accepted(_ client: PostgresClient, _ logger: Logger) async throws -> [Check] {
        var stored = Check("every 201 is an order in PostgreSQL")
        var keys = Check("no Idempotency-Key made two orders")
        guard let history else {
            stored.skipped = "no --history given"
            keys.skipped = "no --history given"
            return [stored, keys]
        }
        let ids = history.accepted.compactMap { UUID(uuidString: $0.orderID) }
        var found = Set<UUID>()
        for try await id in try await client.query("SELECT id FROM orders WHERE id = ANY(\(ids))", logger: logger).decode(UUID.self) {
            found.insert(id)
        }
        for answer in history.accepted {
            stored.checked += 1
            if let id = UUID(uuidString: answer.orderID), found.contains(id) { continue }
            stored.violation("order \(answer.orderID) was answered 201 and is not in PostgreSQL")
        }
        var byKey: [String: Set<String>] = [:]
        for answer in history.accepted {
            guard let key = answer.key else { continue }
            byKey[answer.merchant + " " + key, default: []].insert(answer.orderID.lowercased())
        }
        for (key, orders) in byKey.sorted(by: { $0.key < $1.key }) {
            keys.checked += 1
            if orders.count > 1 { keys.violation("key \(key.split(separator: " ").last ?? "") made orders \(orders.sorted().joined(separator: ", "))") }
        }
        return [stored, keys]
    }

    // MARK: PostgreSQL

    /// Every order reached exactly one outcome (one `payment.succeeded` or `payment.failed`
    /// event, matching its status; one `payment.refunded` when refunded), or is visibly
    /// dead-lettered.
    private func outcomes(_ client: PostgresClient, _ logger: Logger) async throws -> Check {
        var check = Check("one outcome per order, or dead-lettered")
        let rows = try await client.query("""
            SELECT o.id, o.status,
                   (SELECT count(*)::int FROM events e WHERE e.order_id = o.id AND e.type IN ('payment.succeeded', 'payment.failed')),
                   (SELECT count(*)::int FROM events e WHERE e.order_id = o.id AND e.type = 'payment.refunded'),
                   EXISTS (SELECT 1 FROM dead_letters d WHERE d.key = o.id::text
                           AND (d.replayed_at IS NULL OR d.replayed_to LIKE '%.parked'))
            FROM orders o WHERE o.created_at >= \(since)
            """, logger: logger)
        for try await (id, status, outcomes, refunds, deadLettered) in rows.decode((UUID, String, Int, Int, Bool).self) {
            check.checked += 1
            let order = id.lowercased
            if outcomes > 1 { check.violation("order \(order) has \(outcomes) outcomes") }
            if refunds > 1 { check.violation("order \(order) was refunded \(refunds) times") }
            switch status {
            case "pending":
                if outcomes > 0 { check.violation("order \(order) is pending with an outcome event") } else if !deadLettered {
                    check.inFlight("order \(order) is still pending and not dead-lettered")
                }
            case "succeeded", "failed":
                if outcomes != 1 { check.violation("order \(order) is \(status) with \(outcomes) outcome events") }
            case "refund_pending":
                if outcomes != 1 { check.violation("order \(order) is refund_pending with \(outcomes) outcome events") }
                if refunds == 0 && !deadLettered { check.inFlight("order \(order) is still refund_pending and not dead-lettered") }
            case "refunded":
                if outcomes != 1 || refunds != 1 { check.violation("order \(order) is refunded with \(outcomes) outcome and \(refunds) refund events") }
            default:
                check.violation("order \(order) has status \(status)")
            }
        }
        return check
    }

    /// The simulator's own records: no order charged or refunded twice; a succeeded or refunded
    /// order charged exactly once, a failed one never.
    private func charges(_ client: PostgresClient, _ logger: Logger) async throws -> Check {
        var check = Check("charged at most once (the processor's records)")
        let schema = processorSchema.description
        let exists = try await client.query("SELECT to_regclass(\(schema + ".charges")) IS NOT NULL", logger: logger).decode(Bool.self)
        for try await present in exists where !present {
            check.skipped = "no simulator records in schema \(schema)"
            return check
        }
        let rows = try await client.query("""
            SELECT o.id, o.status,
                   (SELECT count(*)::int FROM \(unescaped: schema).charges c WHERE c.order_id = o.id),
                   (SELECT count(*)::int FROM \(unescaped: schema).refunds r WHERE r.order_id = o.id)
            FROM orders o WHERE o.created_at >= \(since)
            """, logger: logger)
        for try await (id, status, charged, refunded) in rows.decode((UUID, String, Int, Int).self) {
            check.checked += 1
            let order = id.lowercased
            if charged > 1 { check.violation("order \(order) was charged \(charged) times") }
            if refunded > 1 { check.violation("order \(order) was refunded \(refunded) times") }
            if ["succeeded", "refund_pending", "refunded"].contains(status) && charged != 1 {
                check.violation("order \(order) is \(status) and was charged \(charged) times")
            }
            if status == "failed" && charged > 0 { check.violation("order \(order) failed and was charged") }
            if status == "refunded" && refunded != 1 { check.violation("order \(order) is refunded and was refunded \(refunded) times") }
        }
        return check
    }

    /// Every event on `payments.v1` reached each endpoint subscribed to it when it happened: a
    /// delivery that succeeded (and, for endpoints at the stack's sink, that the sink itself
    /// received with a valid signature) or one that is dead. An endpoint disabled since holds its
    /// deliveries; they are not counted.
    private func webhooks(_ client: PostgresClient, _ logger: Logger) async throws -> Check {
        var check = Check("every webhook delivered or dead-lettered")
        let received = try await sinkReceived()
        let rows = try await client.query("""
            SELECT e.id, w.id, w.url, w.enabled, d.status, d.delivered_at
            FROM events e
            JOIN webhook_endpoints w ON w.merchant_id = e.merchant_id AND w.created_at <= e.created_at
                 AND (w.deleted_at IS NULL OR w.deleted_at > e.created_at)
                 AND (e.type = ANY(w.enabled_events) OR '*' = ANY(w.enabled_events))
            LEFT JOIN webhook_deliveries d ON d.event_id = e.id AND d.endpoint_id = w.id
            WHERE e.created_at >= \(since) AND e.type = ANY(\(NewWebhookEndpoint.subscribableEvents))
            """, logger: logger)
        for try await (event, endpoint, url, enabled, status, deliveredAt) in rows.decode((UUID, UUID, String, Bool, String?, Date?).self) {
            let what = "event \(event.lowercased) to endpoint \(endpoint.lowercased)"
            switch status {
            case nil:
                check.checked += 1
                check.inFlight("\(what) has no delivery yet")
            case "succeeded"?:
                check.checked += 1
                // A sink started after the delivery cannot know of it.
                if let sinkURL, url.hasPrefix(sinkURL), let received, (deliveredAt ?? .distantPast) >= received.since,
                   !received.ids.contains(event.lowercased) {
                    check.violation("\(what) is marked delivered and the sink never received it")
                }
            case "dead"?:
                check.checked += 1
            default:
                guard enabled else { continue }
                check.checked += 1
                check.inFlight("\(what) is still \(status ?? "")")
            }
        }
        return check
    }

    /// The webhook-ids the stack's sink received with a valid signature, and since when it has
    /// been counting (it remembers nothing from before a restart); nil without a sink.
    private func sinkReceived() async throws -> (ids: Set<String>, since: Date)? {
        guard let sinkURL, let object = await CLIHTTP.json(sinkURL + "/deliveries"), let ids = object["webhook_ids"] as? [String] else { return nil }
        return (Set(ids), Date(timeIntervalSince1970: object["started_at"] as? Double ?? 0))
    }

    /// Since when the development broker holds messages (it keeps them in memory), in seconds
    /// since 1970 as its admin API says; nil for a real Kafka, whose retention is the operator's
    /// to know (`--since`).
    static func brokerStartedAt(_ environment: [String: String]) async -> Double? {
        guard let admin = environment["SETTLE_BROKER_ADMIN_URL"] else { return nil }
        return await CLIHTTP.json(admin + "/cluster")?["started_at"] as? Double
    }

    /// Outbox rows of events in scope not yet published.
    private func outboxBacklog(_ client: PostgresClient, _ logger: Logger) async throws -> Int {
        for try await count in try await client.query("""
            SELECT count(*)::int FROM outbox o JOIN events e ON e.id = o.event_id WHERE e.created_at >= \(since)
            """, logger: logger).decode(Int.self) { return count }
        return 0
    }

    // MARK: Kafka

    /// What Kafka holds: every event in scope is on its topic, and each key's events appear
    /// (first occurrences; a repeat is allowed) in the order they were written.
    private func kafka(_ client: PostgresClient, _ logger: Logger) async throws -> Check {
        var check = Check("events on Kafka, each order's in order")
        // The development broker holds nothing from before it started, so older events cannot be
        // judged; unless `settle restore` queued every event again for this very broker.
        var horizon = since
        if let started = await Self.brokerStartedAt(environment), started != restoredForBroker {
            horizon = max(since, Date(timeIntervalSince1970: started))
        }
        var written: [UUID: (type: String, at: Date)] = [:]
        for try await (id, type, at) in try await client.query(EventStore.sinceQuery(horizon), logger: logger)
            .decode((UUID, String, Date).self) { written[id] = (type, at) }
        let topics = [KafkaTopics.orders, KafkaTopics.payments].map { topicPrefix + $0 }
        let messages: [KafkaConsumerMessage]
        do {
            messages = try await TopicReader.readAll(topics: topics, brokers: brokers)
        } catch {
            check.skipped = "cannot read \(topics.joined(separator: ", ")): \(error)"
            return check
        }
        var seen = Set<UUID>()
        var lastByKey: [String: (id: UUID, at: Date)] = [:]
        for message in messages {
            guard let header = message.headers.first(where: { $0.key == "event-id" })?.value,
                  let id = UUID(uuidString: String(decoding: header, as: UTF8.self)), let event = written[id] else { continue }
            guard seen.insert(id).inserted else { continue }
            let key = message.topic + " " + (message.keyString ?? "")
            if let last = lastByKey[key], event.at < last.at {
                check.violation("on \(message.topic), key \(message.keyString ?? "-"): \(event.type) \(id.lowercased) came after the later event \(last.id.lowercased)")
            }
            if lastByKey[key].map({ event.at >= $0.at }) ?? true { lastByKey[key] = (id, event.at) }
        }
        for (id, event) in written.sorted(by: { $0.value.at < $1.value.at }) {
            check.checked += 1
            if !seen.contains(id) { check.violation("\(event.type) \(id.lowercased) is in PostgreSQL and not on Kafka") }
        }
        return check
    }

    // MARK: output

    static func printTable(_ checks: [Check]) {
        let rows = checks.map { check -> [String] in
            let result = check.skipped != nil ? "skipped" : check.failed ? "FAIL" : "ok"
            return [result, check.name, check.skipped ?? "\(check.checked) checked", check.skipped == nil ? "\(check.violations) violations" : "",
                    check.skipped == nil && check.stuck > 0 ? "\(check.stuck) stuck" : ""]
        }
        let widths = (0..<5).map { column in rows.map { $0[column].count }.max() ?? 0 }
        for row in rows {
            print(row.enumerated().map { $1.padding(toLength: widths[$0], withPad: " ", startingAt: 0) }.joined(separator: "  ")
                .trimmingCharacters(in: .whitespaces))
        }
        for check in checks where check.failed {
            for example in check.examples { print("  \(check.name): \(example)") }
        }
        print(checks.contains(where: \.failed) ? "the contract was broken" : "the contract held: nothing lost, nothing charged twice")
    }
}

extension Verifier {
    /// Checks the stack `environment` describes: its brokers, topic prefix and sink.
    init(environment: [String: String], processorSchema: ProcessorSchemaName = .default, since: Date, history: LoadHistory?) throws {
        self.init(environment: environment,
                  brokers: try EnvironmentReader(environment).hostPortList("KAFKA_BROKERS", default: ServiceSettings.defaultKafkaBrokers),
                  topicPrefix: environment["SETTLE_TOPIC_PREFIX"] ?? "", sinkURL: environment["SETTLE_SINK_URL"],
                  processorSchema: processorSchema, since: since, history: history,
                  restoredForBroker: (try? StackLayout(environment: environment))?.restoredForBroker())
    }
}
