import Foundation
import SettleTestSupport
import Testing

/// Contract clauses 2 and 5: a worker SIGKILLed at any instant leaves every order charged at
/// most once and in exactly one terminal state with one terminal event.
@Suite("Payment worker killed")
struct WorkerCrashTests {
    @Test("Killed before the charge (every processor call failing): the next worker charges once")
    func killedBeforeCharge() async throws {
        try await WorkerFixture.run { fixture in
            try await fixture.faults(#"{"error_rate":1.0}"#)
            let worker = try await fixture.startWorker(["SETTLE_WORKER_BACKOFF_BASE_MS": "500"])
            let order = try await fixture.createOrder("pm_card_ok")
            try await eventually("the worker to be calling the processor") { try await fixture.counts(order).calls >= 1 }
            try await fixture.kill(worker)
            #expect(try await fixture.counts(order).charges == 0)
            #expect(try await fixture.status(order)?.status == "pending")

            try await fixture.faults(#"{"error_rate":0.0}"#)
            let next = try await fixture.startWorker()
            try await eventually("the next worker to charge the order") { try await fixture.status(order)?.status == "succeeded" }
            #expect(try await fixture.counts(order).charges == 1)
            #expect(try await fixture.paymentEvents([order])[order] == 1)
            try await fixture.kill(next, SIGTERM)
        }
    }

    @Test("Killed after the charge and before the database commit: the next worker's charge is the processor's replay")
    func killedAfterCharge() async throws {
        try await WorkerFixture.run { fixture in
            // The processor charges, then drops the connection; the retry waits 3 s in the processor
            // before its replay is answered, so the worker is killed with the charge taken and nothing recorded.
            try await fixture.faults(#"{"crash_after_charge_rate":1.0,"latency_ms":3000}"#)
            let worker = try await fixture.startWorker()
            let order = try await fixture.createOrder("pm_card_ok")
            try await eventually("the processor to have charged the order") { try await fixture.counts(order).charges == 1 }
            try await fixture.kill(worker)
            #expect(try await fixture.status(order)?.status == "pending", "killed before the outcome was recorded")
            #expect(try await fixture.paymentEvents([order]).isEmpty)

            try await fixture.faults(#"{"crash_after_charge_rate":0.0,"latency_ms":0}"#)
            let next = try await fixture.startWorker()
            try await eventually("the next worker to record the outcome") { try await fixture.status(order)?.status == "succeeded" }
            let counts = try await fixture.counts(order)
            #expect(counts.charges == 1, "the same idempotency key: replayed, not charged again (\(counts))")
            #expect(counts.calls >= 2)
            #expect(try await fixture.paymentEvents([order])[order] == 1)
            try await fixture.kill(next, SIGTERM)
        }
    }

    @Test("Killed after the database commit and before the offset commit: the next worker finds the event in the inbox")
    func killedBeforeOffsetCommit() async throws {
        try await WorkerFixture.run { fixture in
            let worker = try await fixture.startWorker()
            let warmUp = try await fixture.createOrder("pm_card_ok")
            try await eventually("the worker to have joined and handled a first order") {
                try await fixture.status(warmUp)?.status == "succeeded"
            }
            // Every offset commit from now on fails (GROUP_AUTHORIZATION_FAILED, which librdkafka does not retry).
            try await fixture.broker.admin.pushErrors(apiKey: 8, codes: Array(repeating: 30, count: 200))
            let order = try await fixture.createOrder("pm_card_ok")
            try await eventually("the outcome to be recorded") { try await fixture.status(order)?.status == "succeeded" }
            try await fixture.kill(worker)

            let next = try await fixture.startWorker()
            try await eventually("the next worker to read the event again and drop it") {
                try await next.metric("settle_worker_duplicates_total") >= 1
            }
            let counts = try await fixture.counts(order)
            #expect(counts.charges == 1 && counts.calls == 1, "\(counts)")
            #expect(try await fixture.paymentEvents([order])[order] == 1)
            try await fixture.kill(next, SIGTERM)
        }
    }

    @Test("500 orders in flight: a third worker joins, then one is SIGKILLed; every order terminal or dead-lettered, each charged at most once")
    func rebalanceAndKillUnderLoad() async throws {
        try await WorkerFixture.run { fixture in
            // Crashes after charging and added latency keep charges in flight when the group changes.
            try await fixture.faults(#"{"crash_after_charge_rate":0.05,"latency_ms":20}"#)
            let first = try await fixture.startWorker()
            let second = try await fixture.startWorker()
            let methods = (0..<500).map { index in
                ["pm_card_ok", "pm_card_ok", "pm_card_ok", "pm_card_declined", "pm_card_flaky"][index % 5]
            }
            let ids = try await fixture.createOrders(methods)
            try await eventually("orders to be settling") { try await fixture.statuses(ids)["pending", default: 0] < 450 }
            let third = try await fixture.startWorker()
            try await eventually("more orders to settle", within: .seconds(90)) { try await fixture.statuses(ids)["pending", default: 0] < 300 }
            try await fixture.kill(first)

            try await eventually("every order to be terminal or dead-lettered", within: .seconds(120)) {
                let pending = try await fixture.statuses(ids)["pending", default: 0]
                return try await pending == fixture.deadLetters().count
            }
            let statuses = try await fixture.statuses(ids)
            #expect(statuses["succeeded", default: 0] + statuses["failed", default: 0] + statuses["pending", default: 0] == 500)
            let events = try await fixture.paymentEvents(ids)
            #expect(events.values.allSatisfy { $0 == 1 }, "one terminal event per order")
            #expect(events.count == statuses["succeeded", default: 0] + statuses["failed", default: 0])
            for id in ids {
                let counts = try await fixture.counts(id)
                #expect(counts.charges <= 1, "order \(id.uuidString): \(counts)")
            }
            try await fixture.kill(second, SIGTERM)
            try await fixture.kill(third, SIGTERM)
        }
    }
}
