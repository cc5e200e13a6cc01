import Foundation
import SettleTestSupport
import Testing

/// "It keeps what it did in a store that survives its own restart."
@Suite("settle processor: restart")
struct RestartTests {
    @Test("Killed and started again on the same schema: the same counts, and keys still replay their bytes")
    func survivesRestart() async throws {
        try await ProcessorFixture.run { fixture in
            let first = try await fixture.start()
            let (order, poisoned) = (fixture.newOrderID(), fixture.newOrderID())
            let (chargeKey, refundKey, poisonKey) = (UniqueName.make("charge"), UniqueName.make("refund"), UniqueName.make("poison"))
            let charge = try await first.charge(order, method: "pm_card_ok", key: chargeKey)
            let refund = try await first.refund(order, key: refundKey)
            let poison = try await first.charge(poisoned, method: "pm_card_poison", key: poisonKey)
            #expect([charge.status, refund.status, poison.status] == [Int](repeating: 200, count: 3))
            // Flaky tries are per order and survive too: one used before the restart.
            let flakyOrder = fixture.newOrderID()
            #expect(try await first.charge(flakyOrder, method: "pm_card_flaky", key: UniqueName.make("flaky")).status == 503)
            try await first.kill()

            let second = try await fixture.start()
            #expect(try await second.counts(order) == ChargeCounts(orderID: order.lowercased(), charges: 1, refunds: 1, calls: 2))
            #expect(try await second.counts(poisoned).charges == 1)

            let chargeAgain = try await second.charge(order, method: "pm_card_ok", key: chargeKey)
            #expect(chargeAgain.replayed)
            #expect(chargeAgain.status == 200)
            #expect(chargeAgain.bytes == charge.bytes)
            let refundAgain = try await second.refund(order, key: refundKey)
            #expect(refundAgain.replayed)
            #expect(refundAgain.bytes == refund.bytes)
            let poisonAgain = try await second.charge(poisoned, method: "pm_card_poison", key: poisonKey)
            #expect(poisonAgain.replayed)
            #expect(poisonAgain.bytes == poison.bytes)
            #expect(try await second.counts(order) == ChargeCounts(orderID: order.lowercased(), charges: 1, refunds: 1, calls: 4))

            let flakyKey = UniqueName.make("flaky")
            #expect(try await second.charge(flakyOrder, method: "pm_card_flaky", key: flakyKey).status == 503)
            #expect(try await second.charge(flakyOrder, method: "pm_card_flaky", key: flakyKey).status == 200)
        }
    }

    @Test("Four simulators starting at once on one new schema all come up (the schema is created under a lock)")
    func concurrentStart() async throws {
        try await ProcessorFixture.run { fixture in
            let processors = try await withThrowingTaskGroup(of: ProcessorUnderTest.self) { group in
                for _ in 0..<4 { group.addTask { try await fixture.start() } }
                return try await group.reduce(into: []) { $0.append($1) }
            }
            let order = fixture.newOrderID()
            #expect(try await processors[0].charge(order, method: "pm_card_ok", key: UniqueName.make("key")).status == 200)
            for processor in processors {
                #expect(try await processor.counts(order).charges == 1)
            }
        }
    }
}
