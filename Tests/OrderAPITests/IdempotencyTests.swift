import Foundation
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
}
