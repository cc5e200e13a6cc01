import Foundation
import HTTPTypes
import PostgresNIO
import SettleDomain
import SettleStorage
import SettleTestSupport
import Testing
@testable import OrderAPI

/// `GET /v1/webhook-endpoints/{id}/deliveries` and `POST /v1/webhook-deliveries/{id}/retry`
/// against a live API. The deliveries and attempts are written as the dispatcher writes them
/// (its own tests send real webhooks).
@Suite("Webhook deliveries")
struct WebhookDeliveryTests {
    struct Seeded: Sendable {
        var endpoint: String
        var delivered: UUID
        var dead: UUID
        var pending: UUID
    }

    /// An endpoint with three deliveries, in this order: delivered (1 attempt), dead (3 attempts), pending (none yet).
    static func seed(_ api: APIHarness, _ merchant: APIHarness.Merchant) async throws -> Seeded {
        let created = try await api.request(.post, "/v1/webhook-endpoints", as: merchant,
                                            body: #"{"url":"https://93.184.215.14/hooks","enabled_events":["*"]}"#)
        let endpoint = try #require(try created.json()["id"] as? String)
        let endpointID = try #require(UUID(uuidString: endpoint))
        var ids: [UUID] = []
        for (status, attempts) in [("succeeded", 1), ("dead", 3), ("pending", 0)] {
            let event = UUIDv7.make(), delivery = UUID()
            try await api.database.query("""
                INSERT INTO events (id, merchant_id, order_id, type, data) VALUES (\(event), \(merchant.id), \(UUID()), 'payment.succeeded', '{}')
                """, logger: APIHarness.logger)
            try await api.database.query("""
                INSERT INTO webhook_deliveries (id, event_id, endpoint_id, status, attempts, next_attempt_at, delivered_at)
                VALUES (\(delivery), \(event), \(endpointID), \(status), \(Int32(attempts)), now() + interval '1 hour',
                        CASE WHEN \(status) = 'succeeded' THEN now() END)
                """, logger: APIHarness.logger)
            for attempt in 0..<attempts {
                let code: Int32 = status == "succeeded" ? 204 : 500
                try await api.database.query("""
                    INSERT INTO webhook_attempts (delivery_id, attempt, attempted_at, status_code, latency_ms, response_body)
                    VALUES (\(delivery), \(Int32(attempt + 1)), now(), \(code), 12, 'answer')
                    """, logger: APIHarness.logger)
            }
            ids.append(delivery)
        }
        return Seeded(endpoint: endpoint, delivered: ids[0], dead: ids[1], pending: ids[2])
    }

    @Test("An endpoint's deliveries, newest first, with every attempt; a status filter; cursor pages; another merchant's is 404")
    func list() async throws {
        try await APIHarness.run { api in
            let merchant = try await api.merchant()
            let seeded = try await Self.seed(api, merchant)
            let page = try await api.request(.get, "/v1/webhook-endpoints/\(seeded.endpoint)/deliveries", as: merchant)
            #expect(page.status == .ok)
            let items = try #require(try page.json()["data"] as? [[String: Any]])
            #expect(items.map { $0["id"] as? String } == [seeded.pending, seeded.dead, seeded.delivered].map(\.lowercased))
            let dead = items[1]
            #expect(dead["status"] as? String == "dead")
            #expect(dead["next_attempt_at"] is NSNull)
            let attempts = try #require(dead["attempts"] as? [[String: Any]])
            #expect(attempts.map { $0["attempt"] as? Int } == [1, 2, 3])
            #expect(attempts.allSatisfy { $0["status_code"] as? Int == 500 && $0["latency_ms"] as? Int == 12 && $0["response_body"] as? String == "answer" })
            #expect(items[0]["next_attempt_at"] as? Int != nil, "a pending delivery says when it is due")

            let deadOnly = try await api.request(.get, "/v1/webhook-endpoints/\(seeded.endpoint)/deliveries?status=dead", as: merchant)
            #expect((try deadOnly.json()["data"] as? [[String: Any]])?.map { $0["id"] as? String } == [seeded.dead.lowercased])
            let first = try await api.request(.get, "/v1/webhook-endpoints/\(seeded.endpoint)/deliveries?limit=1", as: merchant)
            #expect(try first.json()["has_more"] as? Bool == true)
            let next = try await api.request(.get, "/v1/webhook-endpoints/\(seeded.endpoint)/deliveries?limit=1&starting_after=\(seeded.pending.lowercased)",
                                             as: merchant)
            #expect((try next.json()["data"] as? [[String: Any]])?.map { $0["id"] as? String } == [seeded.dead.lowercased])
            let back = try await api.request(.get, "/v1/webhook-endpoints/\(seeded.endpoint)/deliveries?limit=5&ending_before=\(seeded.delivered.lowercased)",
                                             as: merchant)
            #expect((try back.json()["data"] as? [[String: Any]])?.map { $0["id"] as? String } == [seeded.pending, seeded.dead].map(\.lowercased))

            #expect(try await api.request(.get, "/v1/webhook-endpoints/\(seeded.endpoint)/deliveries?status=lost", as: merchant).status == .badRequest)
            let other = try await api.merchant()
            let foreign = try await api.request(.get, "/v1/webhook-endpoints/\(seeded.endpoint)/deliveries", as: other)
            #expect(foreign.status == .notFound)
            #expect(foreign.problemCode == "resource_missing")
        }
    }

    @Test("Retrying a dead delivery makes it due now, once per key; in flight or with its endpoint disabled it is 409; another merchant's is 404")
    func retry() async throws {
        try await APIHarness.run { api in
            let merchant = try await api.merchant()
            let seeded = try await Self.seed(api, merchant)
            let key = UniqueName.make("retry")
            let retried = try await api.request(.post, "/v1/webhook-deliveries/\(seeded.dead.lowercased)/retry", as: merchant, idempotencyKey: key)
            #expect(retried.status == .ok, "\(retried.status) \(retried.problemCode ?? "")")
            #expect(try retried.json()["status"] as? String == "pending")
            var due = false
            for try await value in try await api.database.query("""
                SELECT status = 'pending' AND next_attempt_at <= now() FROM webhook_deliveries WHERE id = \(seeded.dead)
                """, logger: APIHarness.logger).decode(Bool.self) { due = value }
            #expect(due)
            let replay = try await api.request(.post, "/v1/webhook-deliveries/\(seeded.dead.lowercased)/retry", as: merchant, idempotencyKey: key)
            #expect(replay.bytes == retried.bytes)
            #expect(replay.headers[IdempotencyKeyHeader.replayed] == "true")

            try await api.database.query("UPDATE webhook_deliveries SET lease_until = now() + interval '1 minute' WHERE id = \(seeded.pending)",
                                         logger: APIHarness.logger)
            let inFlight = try await api.request(.post, "/v1/webhook-deliveries/\(seeded.pending.lowercased)/retry", as: merchant)
            #expect(inFlight.status == .conflict)
            #expect(inFlight.problemCode == "delivery_in_flight")

            _ = try await api.request(.post, "/v1/webhook-endpoints/\(seeded.endpoint)/disable", as: merchant)
            let disabled = try await api.request(.post, "/v1/webhook-deliveries/\(seeded.delivered.lowercased)/retry", as: merchant)
            #expect(disabled.problemCode == "endpoint_disabled")

            let other = try await api.merchant()
            #expect(try await api.request(.post, "/v1/webhook-deliveries/\(seeded.delivered.lowercased)/retry", as: other).status == .notFound)
            #expect(try await api.request(.post, "/v1/webhook-deliveries/\(UUID().uuidString)/retry", as: merchant).status == .notFound)
        }
    }
}
