import Foundation
import PostgresNIO
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import SettleTestSupport
import Testing
@testable import OrderAPI

@Suite("Idempotency-Key")
struct IdempotencyTests {
    static let body = #"{"amount":500,"currency":"usd","payment_method":"pm_card_ok"}"#

    @Test("Same key and body: the stored status and body, byte for byte, with Idempotent-Replayed; one order")
    func replay() async throws {
        try await APIHarness.run { api in
            let merchant = try await api.merchant()
            let key = UniqueName.make("key")
            let first = try await api.request(.post, "/v1/orders", as: merchant, body: Self.body, idempotencyKey: key)
            #expect(first.status == .created)
            #expect(first.headers[HTTPField.Name("Idempotent-Replayed")!] == nil)
            // The same parameters with other spacing and key order are the same request.
            let again = try await api.request(.post, "/v1/orders", as: merchant,
                                              body: #"{ "payment_method": "pm_card_ok", "currency": "usd", "amount": 500 }"#, idempotencyKey: key)
            #expect(again.status == .created)
            #expect(again.bytes == first.bytes)
            #expect(again.headers[HTTPField.Name("Idempotent-Replayed")!] == "true")
            #expect(try await api.orderCount(merchant) == 1)
        }
    }

    @Test("Same key, different body: 422 idempotency_key_reused, nothing created")
    func reusedWithOtherBody() async throws {
        try await APIHarness.run { api in
            let merchant = try await api.merchant()
            let key = UniqueName.make("key")
            #expect(try await api.request(.post, "/v1/orders", as: merchant, body: Self.body, idempotencyKey: key).status == .created)
            let other = try await api.request(.post, "/v1/orders", as: merchant,
                                              body: #"{"amount":501,"currency":"usd","payment_method":"pm_card_ok"}"#, idempotencyKey: key)
            #expect(other.status == .unprocessableContent)
            #expect(other.problemCode == "idempotency_key_reused")
            #expect(try await api.orderCount(merchant) == 1)
        }
    }

    @Test("Twenty concurrent requests with one key make exactly one order; the others replay it or are 409 in use")
    func concurrentSameKey() async throws {
        try await APIHarness.run(environment: ["SETTLE_INGEST_BATCH_WAIT_MS": "50"]) { api in
            let merchant = try await api.merchant()
            let key = UniqueName.make("key")
            let responses = try await withThrowingTaskGroup(of: APIResponse.self) { group in
                for _ in 0..<20 {
                    group.addTask { try await api.request(.post, "/v1/orders", as: merchant, body: Self.body, idempotencyKey: key) }
                }
                return try await group.reduce(into: []) { $0.append($1) }
            }
            let created = responses.filter { $0.status == .created }
            let inUse = responses.filter { $0.status == .conflict }
            #expect(created.count + inUse.count == 20)
            #expect(!created.isEmpty)
            #expect(Set(created.map(\.bytes)).count == 1, "every 201 is the same order")
            #expect(inUse.allSatisfy { $0.problemCode == "idempotency_key_in_use" && $0.headers[.retryAfter] != nil })
            #expect(try await api.orderCount(merchant) == 1)
        }
    }

    @Test("A key used by a request that failed validation is free: the corrected request succeeds with it")
    func validationFailureStoresNothing() async throws {
        try await APIHarness.run { api in
            let merchant = try await api.merchant()
            let key = UniqueName.make("key")
            let bad = try await api.request(.post, "/v1/orders", as: merchant,
                                            body: #"{"amount":-5,"currency":"usd","payment_method":"pm_card_ok"}"#, idempotencyKey: key)
            #expect(bad.status == .badRequest)
            let good = try await api.request(.post, "/v1/orders", as: merchant, body: Self.body, idempotencyKey: key)
            #expect(good.status == .created)
        }
    }

    @Test("Keys over 255 characters are refused; keys are per merchant")
    func keyRules() async throws {
        try await APIHarness.run { api in
            let alice = try await api.merchant()
            let bob = try await api.merchant()
            let long = try await api.request(.post, "/v1/orders", as: alice, body: Self.body, idempotencyKey: String(repeating: "k", count: 256))
            #expect(long.status == .badRequest)
            #expect(long.problemCode == "idempotency_key_invalid")
            let key = UniqueName.make("key")
            let first = try await api.request(.post, "/v1/orders", as: alice, body: Self.body, idempotencyKey: key)
            let second = try await api.request(.post, "/v1/orders", as: bob, body: Self.body, idempotencyKey: key)
            #expect(first.status == .created)
            #expect(second.status == .created)
            #expect(second.headers[HTTPField.Name("Idempotent-Replayed")!] == nil, "another merchant's key is another key")
            #expect(try first.json()["id"] as? String != second.json()["id"] as? String)
        }
    }

    // Keys live in daily partitions (migration 0014); no index is unique across them, so a key
    // taken yesterday is found by time, and a request in flight is waited for by its lock.

    @Test("A key taken before midnight (yesterday's partition) still answers after it: the retry replays, no second order")
    func keyFromYesterdaysPartition() async throws {
        try await APIHarness.run { api in
            let merchant = try await api.merchant()
            let key = UniqueName.make("key")
            let first = try await api.request(.post, "/v1/orders", as: merchant, body: Self.body, idempotencyKey: key)
            #expect(first.status == .created)
            let partition = try await Self.moveToYesterday(api, merchant: merchant.id, key: key)
            let today = try await Self.todaysPartition(api)
            #expect(partition.hasPrefix("idempotency_keys_") && partition != today, "moved to \(partition)")
            let again = try await api.request(.post, "/v1/orders", as: merchant, body: Self.body, idempotencyKey: key)
            #expect(again.status == .created)
            #expect(again.bytes == first.bytes)
            #expect(again.headers[HTTPField.Name("Idempotent-Replayed")!] == "true")
            #expect(try await api.orderCount(merchant) == 1)
        }
    }

    @Test("A request whose key is taken in another partition by a transaction still open waits for it, then replays its answer")
    func keyInFlightInAnotherPartition() async throws {
        try await APIHarness.run { api in
            let merchant = try await api.merchant()
            let (template, key) = (UniqueName.make("key"), UniqueName.make("key"))
            let first = try await api.request(.post, "/v1/orders", as: merchant, body: Self.body, idempotencyKey: template)
            #expect(first.status == .created)
            try await Self.ensureYesterday(api)
            // What a request that took `key` just before midnight holds until it commits: the key's
            // lock, and its row (the first order's answer) in yesterday's partition.
            let retry = try await api.database.withTransaction(logger: APIHarness.logger) { connection in
                try await connection.query("SELECT settle_lock_idempotency_keys(ARRAY[\(merchant.id)], ARRAY[\(key)])", logger: APIHarness.logger)
                try await connection.query("""
                    INSERT INTO idempotency_keys (merchant_id, key, request_method, request_path, request_hash, response_status, response_body,
                                                  locked_at, created_at, expires_at)
                    SELECT merchant_id, \(key), request_method, request_path, request_hash, response_status, response_body,
                           now(), date_trunc('day', now(), 'UTC') - interval '1 second', now() + interval '1 hour'
                    FROM idempotency_keys WHERE merchant_id = \(merchant.id) AND key = \(template)
                    """, logger: APIHarness.logger)
                let retry = Task { try await api.request(.post, "/v1/orders", as: merchant, body: Self.body, idempotencyKey: key) }
                try await eventually("the retry to wait for the key's lock") {
                    let rows = try await api.database.query("""
                        SELECT count(*)::int FROM pg_locks WHERE locktype = 'advisory' AND classid = 1584864736 AND objsubid = 2 AND NOT granted
                        """, logger: APIHarness.logger)
                    for try await waiting in rows.decode(Int.self) { return waiting > 0 }
                    return false
                }
                return retry
            }
            let answer = try await retry.value
            #expect(answer.status == .created)
            #expect(answer.bytes == first.bytes, "the answer the key holds, not a second order")
            #expect(try await api.orderCount(merchant) == 1)
        }
    }

    static func ensureYesterday(_ api: APIHarness) async throws {
        try await api.database.query("SELECT settle_create_history_partition('idempotency_keys', now() - interval '1 day')", logger: APIHarness.logger)
    }

    static func todaysPartition(_ api: APIHarness) async throws -> String {
        let rows = try await api.database.query(
            "SELECT 'idempotency_keys_' || to_char(now() AT TIME ZONE 'UTC', 'YYYY_MM_DD')", logger: APIHarness.logger)
        for try await name in rows.decode(String.self) { return name }
        return ""
    }

    /// Moves the key's row to the last second of yesterday (UTC), still live; returns its partition.
    static func moveToYesterday(_ api: APIHarness, merchant: UUID, key: String) async throws -> String {
        try await ensureYesterday(api)
        let rows = try await api.database.query("""
            WITH moved AS (
                UPDATE idempotency_keys SET created_at = date_trunc('day', now(), 'UTC') - interval '1 second'
                WHERE merchant_id = \(merchant) AND key = \(key) RETURNING 1
            )
            SELECT count(*)::int FROM moved
            """, logger: APIHarness.logger)
        for try await moved in rows.decode(Int.self) { #expect(moved == 1) }
        let partition = try await api.database.query(
            "SELECT tableoid::regclass::text FROM idempotency_keys WHERE merchant_id = \(merchant) AND key = \(key)", logger: APIHarness.logger)
        for try await name in partition.decode(String.self) { return name }
        return ""
    }
}
