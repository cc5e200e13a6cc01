import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import PostgresNIO
import SettleRuntime
import SettleStorage
import SettleTestSupport
import Testing
@testable import OrderAPI

@Suite("Refunds, lists and the read cache")
struct RefundAndListTests {
    /// Marks an order succeeded the way the worker will (a committed state change, version raised).
    static func succeed(_ id: String, api: APIHarness) async throws {
        let uuid = try #require(UUID(uuidString: id))
        try await api.database.query("UPDATE orders SET status = 'succeeded', version = version + 1 WHERE id = \(uuid)", logger: APIHarness.logger)
    }

    @Test("Only a succeeded order is refundable: refund_pending, a refund.requested event, and no stale cached read afterwards")
    func refund() async throws {
        try await APIHarness.run { api in
            let merchant = try await api.merchant()
            let id = try #require(try await api.createOrder(merchant)["id"] as? String)
            let early = try await api.request(.post, "/v1/orders/\(id)/refund", as: merchant)
            #expect(early.status == .conflict)
            #expect(early.problemCode == "order_not_refundable")

            try await Self.succeed(id, api: api)
            // Warm the cache with a version older than the refund's.
            _ = try await api.request(.get, "/v1/orders/\(id)", as: merchant)
            let key = UniqueName.make("key")
            let refunded = try await api.request(.post, "/v1/orders/\(id)/refund", as: merchant, idempotencyKey: key)
            #expect(refunded.status == .ok)
            #expect(try refunded.json()["status"] as? String == "refund_pending")
            let read = try await api.request(.get, "/v1/orders/\(id)", as: merchant)
            #expect(try read.json()["status"] as? String == "refund_pending", "the read after the refund's answer sees the refund")

            let replay = try await api.request(.post, "/v1/orders/\(id)/refund", as: merchant, idempotencyKey: key)
            #expect(replay.bytes == refunded.bytes)
            #expect(replay.headers[HTTPField.Name("Idempotent-Replayed")!] == "true")
            let twice = try await api.request(.post, "/v1/orders/\(id)/refund", as: merchant)
            #expect(twice.problemCode == "order_not_refundable")

            let events = try await api.request(.get, "/v1/events?type=refund.requested", as: merchant).json()
            let data = try #require(events["data"] as? [[String: Any]])
            #expect(data.count == 1)
            #expect(data.first?["order_id"] as? String == id)
            let unknownField = try await api.request(.post, "/v1/orders/\(id)/refund", as: merchant, body: #"{"amount":5}"#)
            #expect(unknownField.problemCode == "parameter_unknown")
        }
    }

    @Test("A reader that read before a change cannot put the old state back in the cache")
    func staleFillIsRefused() async throws {
        try await APIHarness.run { api in
            let merchant = try await api.merchant()
            let id = try #require(try await api.createOrder(merchant)["id"] as? String)
            let uuid = try #require(UUID(uuidString: id))
            let store = OrderStore(client: api.database, logger: APIHarness.logger)
            let before = try #require(try await store.find(uuid, merchant: merchant.id))
            try await Self.succeed(id, api: api)
            let after = try #require(try await store.find(uuid, merchant: merchant.id))
            let cache = OrderCache(redis: api.redis, lifetime: .seconds(60), logger: APIHarness.logger)
            await cache.store(after, json: Array("after".utf8))
            await cache.store(before, json: Array("before".utf8))  // the slow reader, late
            #expect(await cache.json(merchant: merchant.id, order: uuid) == Array("after".utf8))
        }
    }

    @Test("Cursor pages: limit, starting_after, ending_before, has_more and a status filter")
    func pages() async throws {
        try await APIHarness.run { api in
            let merchant = try await api.merchant()
            var created: [String] = []
            for _ in 0..<25 { created.append(try #require(try await api.createOrder(merchant)["id"] as? String)) }
            let newestFirst = Array(created.reversed())

            var seen: [String] = []
            var cursor: String?
            var pages = 0
            repeat {
                let uri = "/v1/orders?limit=10" + (cursor.map { "&starting_after=\($0)" } ?? "")
                let page = try await api.request(.get, uri, as: merchant).json()
                let ids = (page["data"] as? [[String: Any]] ?? []).compactMap { $0["id"] as? String }
                seen += ids
                pages += 1
                cursor = (page["has_more"] as? Bool == true) ? ids.last : nil
            } while cursor != nil
            #expect(pages == 3)
            #expect(seen == newestFirst)

            let back = try await api.request(.get, "/v1/orders?limit=5&ending_before=\(newestFirst[10])", as: merchant).json()
            #expect((back["data"] as? [[String: Any]])?.compactMap { $0["id"] as? String } == Array(newestFirst[5..<10]))
            #expect(back["has_more"] as? Bool == true)

            try await Self.succeed(created[3], api: api)
            let succeeded = try await api.request(.get, "/v1/orders?status=succeeded", as: merchant).json()
            #expect((succeeded["data"] as? [[String: Any]])?.compactMap { $0["id"] as? String } == [created[3]])

            for (query, param) in [("limit=0", "limit"), ("limit=101", "limit"), ("limit=ten", "limit"), ("status=lost", "status"),
                                   ("starting_after=nope", "starting_after"), ("colour=red", "colour"),
                                   ("starting_after=\(created[0])&ending_before=\(created[1])", "ending_before")] {
                let response = try await api.request(.get, "/v1/orders?\(query)", as: merchant)
                #expect(response.status == .badRequest, "\(query)")
                #expect(response.problemParam == param, "\(query)")
            }
        }
    }

    @Test("Rate limit: RateLimit headers on every response; over the burst, 429 rate_limited with Retry-After")
    func rateLimit() async throws {
        try await APIHarness.run(environment: ["SETTLE_RATE_LIMIT": "1", "SETTLE_RATE_LIMIT_BURST": "3"]) { api in
            let merchant = try await api.merchant()
            // 1 request/s with a burst of 3: requests beyond that within a second are limited. The
            // machine may be slow, so requests go six at once, and every second they took earns one more.
            let start = ContinuousClock.now
            let first = try await api.request(.get, "/v1/orders", as: merchant, retryingUnavailable: false)
            #expect(first.status == .ok)
            #expect(first.headers[HTTPField.Name("RateLimit-Remaining")!] == "2")
            var served = 1
            var limited: APIResponse?
            for _ in 0..<10 where limited == nil {
                let responses = try await withThrowingTaskGroup(of: APIResponse.self) { group in
                    for _ in 0..<6 { group.addTask { try await api.request(.get, "/v1/orders", as: merchant, retryingUnavailable: false) } }
                    return try await group.reduce(into: []) { $0.append($1) }
                }
                for response in responses {
                    #expect(response.headers[HTTPField.Name("RateLimit-Limit")!] == "3")
                    #expect([.ok, .tooManyRequests].contains(response.status), "\(response.status)")
                    if response.status == .ok { served += 1 }
                    if response.status == .tooManyRequests { limited = response }
                }
            }
            let elapsed = start.duration(to: .now)
            #expect(served <= 3 + Int((elapsed / .seconds(1)).rounded(.up)), "\(served) served in \(elapsed)")
            let refused = try #require(limited)
            #expect(refused.headers[HTTPField.Name("RateLimit-Remaining")!] == "0")
            #expect(refused.problemCode == "rate_limited")
            #expect(Int(refused.headers[.retryAfter] ?? "") ?? 0 >= 1)
            // Another key has its own budget.
            let other = try await api.merchant()
            #expect(try await api.request(.get, "/v1/orders", as: other).status == .ok)
        }
    }
}
