import Foundation
import SettleTestSupport
import Testing

/// "A repeated key returns the first answer and never charges twice."
@Suite("settle processor: Idempotency-Key")
struct IdempotencyTests {
    @Test("A repeated key replays the stored status and bytes with Idempotent-Replayed: true, and charges once")
    func replay() async throws {
        try await ProcessorFixture.run { fixture in
            let processor = try await fixture.start()
            let order = fixture.newOrderID()
            let key = UniqueName.make("key")
            let first = try await processor.charge(order, method: "pm_card_ok", key: key)
            #expect(first.status == 200)
            #expect(!first.replayed)
            for _ in 0..<2 {
                let again = try await processor.charge(order, method: "pm_card_ok", key: key)
                #expect(again.status == 200)
                #expect(again.replayed)
                #expect(again.bytes == first.bytes)
                #expect(again.contentType == "application/json")
            }
            #expect(try await processor.counts(order) == ChargeCounts(orderID: order.lowercased(), charges: 1, refunds: 0, calls: 3))
        }
    }

    @Test("A decline is a final answer: stored and replayed, even if the payment method changes")
    func declineReplayed() async throws {
        try await ProcessorFixture.run { fixture in
            let processor = try await fixture.start()
            let order = fixture.newOrderID()
            let key = UniqueName.make("key")
            let first = try await processor.charge(order, method: "pm_card_declined", key: key)
            #expect(first.status == 402)
            let again = try await processor.charge(order, method: "pm_card_ok", key: key)
            #expect(again.status == 402)
            #expect(again.replayed)
            #expect(again.bytes == first.bytes)
            #expect(try await processor.counts(order).charges == 0)
        }
    }

    @Test("The same key for another order is 422 idempotency_key_reused and charges nothing")
    func reusedForOtherOrder() async throws {
        try await ProcessorFixture.run { fixture in
            let processor = try await fixture.start()
            let (order, other) = (fixture.newOrderID(), fixture.newOrderID())
            let key = UniqueName.make("key")
            #expect(try await processor.charge(order, method: "pm_card_ok", key: key).status == 200)
            let reused = try await processor.charge(other, method: "pm_card_ok", key: key)
            #expect(reused.status == 422)
            #expect(reused.errorCode == "idempotency_key_reused")
            #expect(try await processor.counts(other) == ChargeCounts(orderID: other.lowercased(), charges: 0, refunds: 0, calls: 1))
            #expect(try await processor.counts(order).charges == 1)
        }
    }

    @Test("Twenty simultaneous requests with one key: one charge, and all twenty get the same 200 bytes")
    func concurrentSameKey() async throws {
        try await ProcessorFixture.run { fixture in
            let processor = try await fixture.start()
            let order = fixture.newOrderID()
            let key = UniqueName.make("key")
            let replies = try await withThrowingTaskGroup(of: ProcessorReply.self) { group in
                for _ in 0..<20 {
                    group.addTask { try await processor.charge(order, method: "pm_card_ok", key: key) }
                }
                return try await group.reduce(into: []) { $0.append($1) }
            }
            #expect(replies.allSatisfy { $0.status == 200 }, "\(replies.map(\.status))")
            #expect(Set(replies.map(\.bytes)).count == 1, "every answer is the one charge")
            #expect(replies.filter { !$0.replayed }.count == 1, "exactly one request took the charge")
            #expect(try await processor.counts(order) == ChargeCounts(orderID: order.lowercased(), charges: 1, refunds: 0, calls: 20))
        }
    }

    @Test("Twenty simultaneous charges with different keys for one order are twenty charges: the key, not the order, is what dedupes")
    func concurrentDifferentKeys() async throws {
        try await ProcessorFixture.run { fixture in
            let processor = try await fixture.start()
            let order = fixture.newOrderID()
            let replies = try await withThrowingTaskGroup(of: ProcessorReply.self) { group in
                for _ in 0..<20 {
                    group.addTask { try await processor.charge(order, method: "pm_card_ok", key: UniqueName.make("key")) }
                }
                return try await group.reduce(into: []) { $0.append($1) }
            }
            #expect(replies.allSatisfy { $0.status == 200 && !$0.replayed })
            #expect(try await processor.counts(order).charges == 20)
        }
    }
}
