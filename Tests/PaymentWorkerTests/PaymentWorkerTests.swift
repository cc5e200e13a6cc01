import Foundation
import SettleDomain
import SettleStorage
import SettleTestSupport
import Testing

@Suite("Payment worker")
struct PaymentWorkerTests {
    @Test("Each payment method ends as the simulator decides; pm_card_flaky succeeds through in-process retries")
    func outcomes() async throws {
        try await WorkerFixture.run { fixture in
            let worker = try await fixture.startWorker()
            let methods = ["pm_card_ok", "pm_card_declined", "pm_card_insufficient_funds", "pm_card_flaky", "pm_card_slow", "pm_card_poison"]
            let ids = try await fixture.createOrders(methods)
            let order = Dictionary(uniqueKeysWithValues: zip(methods, ids))
            try await eventually("every order but the poisoned one to be terminal") {
                try await fixture.statuses(ids)["pending"] == 1
            }
            #expect(try await fixture.status(order["pm_card_ok"]!)! == ("succeeded", nil))
            #expect(try await fixture.status(order["pm_card_declined"]!)! == ("failed", "card_declined"))
            #expect(try await fixture.status(order["pm_card_insufficient_funds"]!)! == ("failed", "insufficient_funds"))
            #expect(try await fixture.status(order["pm_card_flaky"]!)! == ("succeeded", nil))
            #expect(try await fixture.status(order["pm_card_slow"]!)! == ("succeeded", nil))
            #expect(try await fixture.status(order["pm_card_poison"]!)! == ("pending", nil))

            let flaky = try await fixture.counts(order["pm_card_flaky"]!)
            #expect(flaky.charges == 1 && flaky.calls == 3, "two 503s, then the charge, in process: \(flaky)")
            #expect(try await worker.metric("settle_worker_retries_total", labels: "retry.") == 0, "nothing went to a retry topic")
            // The settle-time SLO's histogram counts each charge whose outcome was recorded (not the poisoned one).
            #expect(try await worker.metric("settle_worker_order_settle_seconds_count") == 5)

            // The poisoned answer is not retried: dead-lettered at once, the order stays pending and visible.
            try await eventually("the poisoned order to be dead-lettered") { try await !fixture.deadLetters().isEmpty }
            let letters = try await fixture.deadLetters()
            #expect(letters.count == 1)
            #expect(letters.first?.key == order["pm_card_poison"]!.lowercased)
            #expect(letters.first?.errorClass == "processor_invalid_response")
            #expect(letters.first?.attempts == 1)
            #expect(try await fixture.counts(order["pm_card_poison"]!).charges == 1, "the processor took the money; it is never taken again")

            for (method, id) in order where method != "pm_card_poison" {
                #expect(try await fixture.paymentEvents([id])[id] == 1, "\(method): one terminal event")
                #expect(try await fixture.counts(id).charges == (["pm_card_declined", "pm_card_insufficient_funds"].contains(method) ? 0 : 1))
            }
            try await fixture.kill(worker, SIGTERM)
        }
    }

    @Test("Its database connections go silent three times (a vanished peer, a partition: nothing answered, nothing closed): every order still settles, each charged once")
    func silentDatabaseConnections() async throws {
        try await WorkerFixture.run { fixture in
            let (proxy, through) = try await StallingProxy.start(before: fixture.databaseURL)
            let worker = try await fixture.startWorker([
                "DATABASE_URL": through.absoluteString, "SETTLE_WORKER_STATEMENT_DEADLINE_MS": "1000", "SETTLE_LOG_LEVEL": "warning",
            ])
            var orders = try await fixture.createOrders(Array(repeating: "pm_card_ok", count: 5))
            // Each time, every connection the worker has then stays open and answers nothing;
            // connections it makes later work. A deadline that left its silent connection leased
            // would have used up the pool (four connections in tests) by the last stall.
            for stall in 0...3 {
                if stall > 0 {
                    proxy.stall()
                    orders += try await fixture.createOrders(Array(repeating: "pm_card_ok", count: 4))
                }
                let all = orders
                do {
                    try await eventually("every order to succeed after stall \(stall)", within: .seconds(45)) {
                        try await fixture.statuses(all) == ["succeeded": all.count]
                    }
                } catch {
                    throw WorkerFixture.Failure(description: "\(error); the worker's log ends:\n\(worker.process.errorTail(40))")
                }
            }
            for order in orders { #expect(try await fixture.counts(order).charges == 1) }
            #expect(try await fixture.paymentEvents(orders).values.allSatisfy { $0 == 1 })
            #expect(try await fixture.deadLetters().isEmpty)
            try await fixture.kill(worker, SIGTERM)
            try await proxy.stop()
        }
    }

    @Test("The same order event delivered twice: one charge, one terminal event")
    func duplicateDelivery() async throws {
        try await WorkerFixture.run { fixture in
            let worker = try await fixture.startWorker()
            let order = try await fixture.createOrder("pm_card_ok")
            try await fixture.republishCreated(order)
            try await eventually("the order to succeed") { try await fixture.status(order)?.status == "succeeded" }
            try await eventually("the second delivery to be seen and dropped") {
                try await worker.metric("settle_worker_duplicates_total") >= 1
            }
            #expect(try await fixture.counts(order).charges == 1)
            #expect(try await fixture.counts(order).calls == 1, "the duplicate never reached the processor")
            #expect(try await fixture.events(order) == ["order.created", "payment.succeeded"])
            try await fixture.kill(worker, SIGTERM)
        }
    }

    @Test("A message that is not JSON on orders.v1 is dead-lettered and the consumer goes on")
    func notJSON() async throws {
        try await WorkerFixture.run { fixture in
            let worker = try await fixture.startWorker()
            let key = UUIDv7.make().lowercased
            try await fixture.publish(Array("this is not json {".utf8), key: key)
            try await fixture.publish(Array(#"{"id":"x","type":"order.created"}"#.utf8), key: key)
            let order = try await fixture.createOrder("pm_card_ok")
            try await eventually("the next order to succeed") { try await fixture.status(order)?.status == "succeeded" }
            try await eventually("both bad messages to be dead-lettered") { try await fixture.deadLetters().count == 2 }
            let letters = try await fixture.deadLetters()
            #expect(letters.allSatisfy { $0.errorClass == "undecodable_message" })
            #expect(letters.map(\.payload).contains(Array("this is not json {".utf8)))
            #expect(worker.process.isRunning)
            try await fixture.kill(worker, SIGTERM)
        }
    }

    @Test("A refund: refund.requested moves the order to refunded once; asked twice, refunded once")
    func refund() async throws {
        try await WorkerFixture.run { fixture in
            let worker = try await fixture.startWorker()
            let order = try await fixture.createOrder("pm_card_ok")
            try await eventually("the order to succeed") { try await fixture.status(order)?.status == "succeeded" }

            let store = OrderStore(client: fixture.database, logger: WorkerFixture.logger)
            let first = try await store.requestRefund(order, merchant: fixture.merchant, claim: nil) { _ in (200, []) }
            let second = try await store.requestRefund(order, merchant: fixture.merchant, claim: nil) { _ in (200, []) }
            guard case .requested = first else { Issue.record("the first refund was not requested: \(first)"); return }
            guard case .notRefundable = second else { Issue.record("the second refund was not refused: \(second)"); return }
            try await eventually("the order to be refunded") { try await fixture.status(order)?.status == "refunded" }
            // Kafka delivers the refund request a second time: nothing more happens.
            let rows = try await fixture.database.query("""
                SELECT settle_event_envelope(id, type, merchant_id, created_at, data)::text, id FROM events
                WHERE order_id = \(order) AND type = 'refund.requested'
                """, logger: WorkerFixture.logger)
            for try await (envelope, event) in rows.decode((String, UUID).self) {
                try await fixture.publish(Array(envelope.utf8), key: order.lowercased, headers: [.init(key: "event-id", value: event.lowercased)])
            }
            try await eventually("the repeated refund request to be dropped") {
                try await worker.metric("settle_worker_duplicates_total") >= 1
            }
            let counts = try await fixture.counts(order)
            #expect(counts.charges == 1 && counts.refunds == 1, "\(counts)")
            #expect(try await fixture.events(order) == ["order.created", "payment.succeeded", "refund.requested", "payment.refunded"])
            try await fixture.kill(worker, SIGTERM)
        }
    }
}
