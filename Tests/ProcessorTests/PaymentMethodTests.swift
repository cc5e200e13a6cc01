import Foundation
import SettleTestSupport
import Testing

/// DESIGN.md "The card-processor simulator": the payment method decides the answer.
@Suite("settle processor: payment methods")
struct PaymentMethodTests {
    @Test("pm_card_ok: 200 with the charge, lower-case order id, one charge taken")
    func ok() async throws {
        try await ProcessorFixture.run { fixture in
            let processor = try await fixture.start()
            let order = fixture.newOrderID()
            let reply = try await processor.charge(order, method: "pm_card_ok", key: UniqueName.make("key"))
            #expect(reply.status == 200)
            #expect(reply.contentType == "application/json")
            #expect(!reply.replayed)
            let object = try #require(reply.object, "body: \(reply.text)")
            let id = try #require(object["id"] as? String)
            #expect(id.wholeMatch(of: /ch_[0-9a-f]{24}/) != nil, "id \(id)")
            #expect(object["object"] as? String == "charge")
            #expect(object["order_id"] as? String == order.lowercased())
            #expect(object["amount"] as? Int == 1299)
            #expect(object["currency"] as? String == "usd")
            #expect(object["status"] as? String == "succeeded")
            #expect(reply.text.hasPrefix(#"{"id":"\#(id)","object":"charge","order_id":"\#(order.lowercased())","amount":1299,"#))
            #expect(try await processor.counts(order) == ChargeCounts(orderID: order.lowercased(), charges: 1, refunds: 0, calls: 1))
        }
    }

    @Test("Declines are 402 with their code and take no money", arguments: [
        ("pm_card_declined", "card_declined"),
        ("pm_card_insufficient_funds", "insufficient_funds"),
        ("pm_card_stolen", "invalid_payment_method"),
    ])
    func declined(method: String, code: String) async throws {
        try await ProcessorFixture.run { fixture in
            let processor = try await fixture.start()
            let order = fixture.newOrderID()
            let reply = try await processor.charge(order, method: method, key: UniqueName.make("key"))
            #expect(reply.status == 402)
            #expect(reply.errorCode == code, "body: \(reply.text)")
            #expect(try await processor.counts(order).charges == 0)
        }
    }

    @Test("pm_card_down: 503 processor_unavailable every time, nothing charged, every call counted")
    func down() async throws {
        try await ProcessorFixture.run { fixture in
            let processor = try await fixture.start()
            let order = fixture.newOrderID()
            let key = UniqueName.make("key")
            for _ in 0..<3 {
                let reply = try await processor.charge(order, method: "pm_card_down", key: key)
                #expect(reply.status == 503)
                #expect(reply.errorCode == "processor_unavailable")
                #expect(!reply.replayed)
            }
            #expect(try await processor.counts(order) == ChargeCounts(orderID: order.lowercased(), charges: 0, refunds: 0, calls: 3))
        }
    }

    @Test("pm_card_flaky: 503, 503, then 200 with the same key; 503s are not stored; one charge")
    func flaky() async throws {
        try await ProcessorFixture.run { fixture in
            let processor = try await fixture.start()
            let order = fixture.newOrderID()
            let key = UniqueName.make("key")
            let statuses = try await [1, 2, 3].asyncMap { _ in try await processor.charge(order, method: "pm_card_flaky", key: key) }
            #expect(statuses.map(\.status) == [Int]([503, 503, 200]))
            #expect(statuses.prefix(2).allSatisfy { $0.errorCode == "processor_unavailable" })
            let again = try await processor.charge(order, method: "pm_card_flaky", key: key)
            #expect(again.status == 200)
            #expect(again.replayed)
            #expect(again.bytes == statuses[2].bytes)
            #expect(try await processor.counts(order) == ChargeCounts(orderID: order.lowercased(), charges: 1, refunds: 0, calls: 4))
        }
    }

    @Test("pm_card_slow: 200 like pm_card_ok, after 2 s")
    func slow() async throws {
        try await ProcessorFixture.run { fixture in
            let processor = try await fixture.start()
            let order = fixture.newOrderID()
            let started = ContinuousClock.now
            let reply = try await processor.charge(order, method: "pm_card_slow", key: UniqueName.make("key"))
            let elapsed = ContinuousClock.now - started
            #expect(reply.status == 200)
            #expect(reply.object?["status"] as? String == "succeeded")
            #expect(elapsed >= .seconds(2), "answered after \(elapsed)")
            #expect(try await processor.counts(order).charges == 1)
        }
    }

    @Test("pm_card_poison: 200 application/json whose body is not JSON; the charge is taken and replayed byte for byte")
    func poison() async throws {
        try await ProcessorFixture.run { fixture in
            let processor = try await fixture.start()
            let order = fixture.newOrderID()
            let key = UniqueName.make("key")
            let reply = try await processor.charge(order, method: "pm_card_poison", key: key)
            #expect(reply.status == 200)
            #expect(reply.contentType == "application/json")
            #expect((try? JSONSerialization.jsonObject(with: Data(reply.bytes))) == nil, "body parsed as JSON: \(reply.text)")
            #expect(reply.text.hasPrefix(#"{"id":"ch_"#))
            let again = try await processor.charge(order, method: "pm_card_poison", key: key)
            #expect(again.status == 200)
            #expect(again.replayed)
            #expect(again.bytes == reply.bytes)
            #expect(try await processor.counts(order) == ChargeCounts(orderID: order.lowercased(), charges: 1, refunds: 0, calls: 2))
        }
    }
}
