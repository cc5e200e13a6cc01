import AsyncHTTPClient
import Foundation
import SettleTestSupport
import Testing

/// Flags and `POST /faults`: an error rate, added latency, and "crash after charging, before answering".
@Suite("settle processor: faults")
struct FaultTests {
    @Test("Flags set the initial faults; POST /faults changes only the fields it names; GET /faults shows them all")
    func settings() async throws {
        try await ProcessorFixture.run { fixture in
            let processor = try await fixture.start(["--error-rate", "0.25", "--latency-ms", "5"])
            let initial = try await processor.get("/faults")
            #expect(initial.status == 200)
            #expect(initial.object?["error_rate"] as? Double == 0.25)
            #expect(initial.object?["latency_ms"] as? Int == 5)
            #expect(initial.object?["crash_after_charge_rate"] as? Double == 0)

            let changed = try await processor.setFaults(#"{"crash_after_charge_rate":0.5}"#)
            #expect(changed.object?["error_rate"] as? Double == 0.25)
            #expect(changed.object?["latency_ms"] as? Int == 5)
            #expect(changed.object?["crash_after_charge_rate"] as? Double == 0.5)
            #expect(try await processor.get("/faults").bytes == changed.bytes)
        }
    }

    @Test("Out-of-range or unknown faults are 400 and change nothing")
    func invalidFaults() async throws {
        try await ProcessorFixture.run { fixture in
            let processor = try await fixture.start()
            let before = try await processor.get("/faults")
            for body in [
                #"{"error_rate":1.5}"#, #"{"error_rate":-0.1}"#, #"{"error_rate":"high"}"#,
                #"{"latency_ms":60001}"#, #"{"latency_ms":1.5}"#, #"{"crash_after_charge_rate":2}"#,
                #"{"error_rate":0.5,"errorRate":0.5}"#, #"[1]"#, #"not json"#, #"{"garbage_rate":1.01}"#,
            ] {
                let reply = try await processor.post("/faults", body: body, key: nil)
                #expect(reply.status == 400, "\(body): \(reply.text)")
                #expect(reply.errorCode != nil, "\(body): \(reply.text)")
            }
            #expect(try await processor.get("/faults").bytes == before.bytes)
        }
    }

    @Test("error_rate 1: every charge and refund is 503, counted as a call, nothing charged or stored; at 0 the same key succeeds")
    func errorRate() async throws {
        try await ProcessorFixture.run { fixture in
            let processor = try await fixture.start()
            let order = fixture.newOrderID()
            let key = UniqueName.make("key")
            try await processor.setFaults(#"{"error_rate":1}"#)
            let failed = try await processor.charge(order, method: "pm_card_ok", key: key)
            #expect(failed.status == 503)
            #expect(failed.errorCode == "processor_unavailable")
            let refund = try await processor.refund(order, key: UniqueName.make("refund"))
            #expect(refund.status == 503)
            #expect(try await processor.counts(order) == ChargeCounts(orderID: order.lowercased(), charges: 0, refunds: 0, calls: 2))

            try await processor.setFaults(#"{"error_rate":0}"#)
            let succeeded = try await processor.charge(order, method: "pm_card_ok", key: key)
            #expect(succeeded.status == 200)
            #expect(!succeeded.replayed, "the 503 was not stored")
            #expect(try await processor.counts(order).charges == 1)
        }
    }

    @Test("garbage_rate 1: every charge and refund is 200 with a body that is not JSON, nothing charged or stored; at 0 the same key succeeds")
    func garbageRate() async throws {
        try await ProcessorFixture.run { fixture in
            let processor = try await fixture.start()
            let order = fixture.newOrderID()
            let key = UniqueName.make("key")
            try await processor.setFaults(#"{"garbage_rate":1}"#)
            let garbage = try await processor.charge(order, method: "pm_card_ok", key: key)
            #expect(garbage.status == 200)
            #expect(garbage.object == nil, "not JSON: \(garbage.text)")
            #expect(try await processor.refund(order, key: UniqueName.make("refund")).object == nil)
            #expect(try await processor.counts(order) == ChargeCounts(orderID: order.lowercased(), charges: 0, refunds: 0, calls: 2))

            try await processor.setFaults(#"{"garbage_rate":0}"#)
            let succeeded = try await processor.charge(order, method: "pm_card_ok", key: key)
            #expect(succeeded.status == 200 && succeeded.object != nil)
            #expect(!succeeded.replayed, "the garbage was not stored")
            #expect(try await processor.counts(order).charges == 1)
        }
    }

    @Test("latency_ms delays the answer")
    func latency() async throws {
        try await ProcessorFixture.run { fixture in
            let processor = try await fixture.start()
            try await processor.setFaults(#"{"latency_ms":400}"#)
            let started = ContinuousClock.now
            let reply = try await processor.charge(fixture.newOrderID(), method: "pm_card_declined", key: UniqueName.make("key"))
            let elapsed = ContinuousClock.now - started
            #expect(reply.status == 402)
            #expect(elapsed >= .milliseconds(400), "answered after \(elapsed)")
        }
    }

    @Test("crash_after_charge_rate 1: the charge commits, the client gets an error, and the retry with the same key gets the stored 200")
    func crashAfterCharge() async throws {
        try await ProcessorFixture.run { fixture in
            let processor = try await fixture.start(["--crash-after-charge-rate", "1"])
            let order = fixture.newOrderID()
            let key = UniqueName.make("key")
            do {
                let reply = try await processor.charge(order, method: "pm_card_ok", key: key)
                Issue.record("the client got an answer: \(reply.status) \(reply.text)")
            } catch let error as HTTPClientError {
                // The connection closed before any byte of the answer.
                #expect(error == .remoteConnectionClosed, "\(error)")
            }
            #expect(try await processor.counts(order) == ChargeCounts(orderID: order.lowercased(), charges: 1, refunds: 0, calls: 1))

            // A decline takes no money, so there is nothing to crash after.
            let declined = try await processor.charge(fixture.newOrderID(), method: "pm_card_declined", key: UniqueName.make("key"))
            #expect(declined.status == 402)

            try await processor.setFaults(#"{"crash_after_charge_rate":0}"#)
            let retry = try await processor.charge(order, method: "pm_card_ok", key: key)
            #expect(retry.status == 200)
            #expect(retry.replayed)
            #expect(retry.object?["status"] as? String == "succeeded")
            #expect(try await processor.counts(order) == ChargeCounts(orderID: order.lowercased(), charges: 1, refunds: 0, calls: 2))
        }
    }
}
