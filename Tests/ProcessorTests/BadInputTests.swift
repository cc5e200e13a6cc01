import Foundation
import SettleTestSupport
import Testing

/// Bad input is a 400 with a code, never a 500, and never a charge.
@Suite("settle processor: bad input")
struct BadInputTests {
    /// Bodies with `ORDER` standing for a fresh order id, the key sent, and the code expected.
    static let cases: [(body: String, key: String?, code: String)] = [
        (good, nil, "idempotency_key_missing"),
        (good, "", "idempotency_key_missing"),
        (good, String(repeating: "k", count: 256), "idempotency_key_invalid"),
        ("{not json", "key", "invalid_json"),
        ("[]", "key", "invalid_json"),
        ("", "key", "parameter_missing"),
        (#"{"amount":1299,"currency":"usd","payment_method":"pm_card_ok"}"#, "key", "parameter_missing"),
        (#"{"order_id":"not-a-uuid","amount":1299,"currency":"usd","payment_method":"pm_card_ok"}"#, "key", "parameter_invalid"),
        (#"{"order_id":"ORDER","currency":"usd","payment_method":"pm_card_ok"}"#, "key", "parameter_missing"),
        (#"{"order_id":"ORDER","amount":"1299","currency":"usd","payment_method":"pm_card_ok"}"#, "key", "parameter_invalid"),
        (#"{"order_id":"ORDER","amount":12.5,"currency":"usd","payment_method":"pm_card_ok"}"#, "key", "parameter_invalid"),
        (#"{"order_id":"ORDER","amount":0,"currency":"usd","payment_method":"pm_card_ok"}"#, "key", "parameter_invalid"),
        (#"{"order_id":"ORDER","amount":1299,"currency":"dollars","payment_method":"pm_card_ok"}"#, "key", "parameter_invalid"),
        (#"{"order_id":"ORDER","amount":1299,"currency":"usd"}"#, "key", "parameter_missing"),
        (#"{"order_id":"ORDER","amount":1299,"currency":"usd","payment_method":7}"#, "key", "parameter_invalid"),
    ]
    static let good = ProcessorUnderTest.chargeBody("ORDER", method: "pm_card_ok")

    @Test("Charges with bad input are 400 with a code and take no money; the key stays usable")
    func badCharges() async throws {
        try await ProcessorFixture.run { fixture in
            let processor = try await fixture.start()
            for (index, testCase) in Self.cases.enumerated() {
                let order = fixture.newOrderID()
                let key = testCase.key.map { $0 == "key" ? UniqueName.make("key") : $0 }
                let reply = try await processor.post("/charges", body: testCase.body.replacingOccurrences(of: "ORDER", with: order), key: key)
                #expect(reply.status == 400, "case \(index): \(reply.text)")
                #expect(reply.errorCode == testCase.code, "case \(index): \(reply.text)")
                #expect(try await processor.counts(order).charges == 0, "case \(index)")
                // A 400 is not stored: the same key with a good body charges.
                if let key, !key.isEmpty, key.count <= 255 {
                    let good = try await processor.post("/charges", body: Self.good.replacingOccurrences(of: "ORDER", with: order), key: key)
                    #expect(good.status == 200, "case \(index): \(good.text)")
                    #expect(!good.replayed, "case \(index)")
                }
            }
        }
    }

    @Test("Refunds, counts and oversized bodies: 400 or 413, never 500")
    func otherBadInput() async throws {
        try await ProcessorFixture.run { fixture in
            let processor = try await fixture.start()
            let order = fixture.newOrderID()
            #expect(try await processor.post("/refunds", body: ProcessorUnderTest.refundBody(order), key: nil).status == 400)
            #expect(try await processor.post("/refunds", body: #"{"order_id":"\#(order)"}"#, key: "key").status == 400)
            let counts = try await processor.get("/charges/not-a-uuid")
            #expect(counts.status == 400)
            #expect(counts.errorCode == "parameter_invalid")
            let huge = #"{"order_id":"\#(order)","pad":"\#(String(repeating: "x", count: 70_000))"}"#
            let tooLarge = try await processor.post("/charges", body: huge, key: "key")
            #expect(tooLarge.status == 413)
            #expect(try await processor.counts(order) == ChargeCounts(orderID: order.lowercased(), charges: 0, refunds: 0, calls: 2))
        }
    }

    @Test("An order never seen counts all zeros")
    func unknownOrder() async throws {
        try await ProcessorFixture.run { fixture in
            let processor = try await fixture.start()
            let order = fixture.newOrderID()
            #expect(try await processor.counts(order) == ChargeCounts(orderID: order.lowercased(), charges: 0, refunds: 0, calls: 0))
        }
    }
}
