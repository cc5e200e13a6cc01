import Foundation
import SettleTestSupport
import Testing

@Suite("settle processor: refunds")
struct RefundTests {
    @Test("A refund of a charge is 200 and replayed byte for byte; a second refund is 409: nothing left to refund")
    func refund() async throws {
        try await ProcessorFixture.run { fixture in
            let processor = try await fixture.start()
            let order = fixture.newOrderID()
            #expect(try await processor.charge(order, method: "pm_card_ok", key: UniqueName.make("charge")).status == 200)
            let key = UniqueName.make("refund")
            let refund = try await processor.refund(order, key: key)
            #expect(refund.status == 200, "\(refund.text)")
            let object = try #require(refund.object, "body: \(refund.text)")
            #expect((object["id"] as? String)?.wholeMatch(of: /re_[0-9a-f]{24}/) != nil)
            #expect(object["object"] as? String == "refund")
            #expect(object["order_id"] as? String == order.lowercased())
            #expect(object["amount"] as? Int == 1299)
            #expect(object["currency"] as? String == "usd")
            #expect(object["status"] as? String == "succeeded")

            let again = try await processor.refund(order, key: key)
            #expect(again.status == 200)
            #expect(again.replayed)
            #expect(again.bytes == refund.bytes)

            let second = try await processor.refund(order, key: UniqueName.make("refund"))
            #expect(second.status == 409)
            #expect(second.errorCode == "charge_not_found")
            #expect(try await processor.counts(order) == ChargeCounts(orderID: order.lowercased(), charges: 1, refunds: 1, calls: 4))
        }
    }

    @Test("A refund without a charge (none, or only a decline) is 409 charge_not_found and is not stored")
    func refundWithoutCharge() async throws {
        try await ProcessorFixture.run { fixture in
            let processor = try await fixture.start()
            let order = fixture.newOrderID()
            let key = UniqueName.make("refund")
            let refund = try await processor.refund(order, key: key)
            #expect(refund.status == 409)
            #expect(refund.errorCode == "charge_not_found")

            #expect(try await processor.charge(order, method: "pm_card_declined", key: UniqueName.make("charge")).status == 402)
            #expect(try await processor.refund(order, key: key).status == 409)

            // Not stored: once there is a charge, the same key refunds it.
            #expect(try await processor.charge(order, method: "pm_card_ok", key: UniqueName.make("charge")).status == 200)
            let later = try await processor.refund(order, key: key)
            #expect(later.status == 200)
            #expect(!later.replayed)
            #expect(try await processor.counts(order).refunds == 1)
        }
    }

    @Test("Simultaneous refunds with different keys of one charge: exactly one succeeds, the others are 409")
    func concurrentRefunds() async throws {
        try await ProcessorFixture.run { fixture in
            let processor = try await fixture.start()
            let orders = (0..<5).map { _ in fixture.newOrderID() }
            for order in orders {
                #expect(try await processor.charge(order, method: "pm_card_ok", key: UniqueName.make("charge")).status == 200)
            }
            // Ten refunds per order, all fifty at once: without the order's row lock two of them
            // can both see "one charge, no refund yet".
            let statuses = try await withThrowingTaskGroup(of: (String, Int).self) { group in
                for order in orders {
                    for _ in 0..<10 {
                        group.addTask { (order, try await processor.refund(order, key: UniqueName.make("refund")).status) }
                    }
                }
                return try await group.reduce(into: [String: [Int]]()) { $0[$1.0, default: []].append($1.1) }
            }
            for order in orders {
                #expect(statuses[order]?.sorted() == [200] + [Int](repeating: 409, count: 9), "order \(order)")
                #expect(try await processor.counts(order).refunds == 1, "order \(order)")
            }
        }
    }

    @Test("A refund key reused for another order is 422")
    func refundKeyReused() async throws {
        try await ProcessorFixture.run { fixture in
            let processor = try await fixture.start()
            let (order, other) = (fixture.newOrderID(), fixture.newOrderID())
            for id in [order, other] {
                #expect(try await processor.charge(id, method: "pm_card_ok", key: UniqueName.make("charge")).status == 200)
            }
            let key = UniqueName.make("refund")
            #expect(try await processor.refund(order, key: key).status == 200)
            let reused = try await processor.refund(other, key: key)
            #expect(reused.status == 422)
            #expect(reused.errorCode == "idempotency_key_reused")
            #expect(try await processor.counts(other).refunds == 0)
        }
    }

    @Test("Charge and refund keys are separate: a refund may use the charge's key without replaying the charge")
    func separateKeySpaces() async throws {
        try await ProcessorFixture.run { fixture in
            let processor = try await fixture.start()
            let order = fixture.newOrderID()
            let key = UniqueName.make("key")
            #expect(try await processor.charge(order, method: "pm_card_ok", key: key).status == 200)
            let refund = try await processor.refund(order, key: key)
            #expect(refund.status == 200)
            #expect(!refund.replayed)
            #expect(refund.object?["object"] as? String == "refund")
        }
    }
}
