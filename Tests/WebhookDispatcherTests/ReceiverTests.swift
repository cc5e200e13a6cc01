import Foundation
import PostgresNIO
import SettleDomain
import SettleStorage
import SettleTestSupport
import Testing

/// `settle-dispatcher` delivering to receivers written in the test (`Receiver`), which check
/// Standard Webhooks signatures with their own HMAC code and answer as each test scripts.
@Suite("Webhook receivers")
struct ReceiverTests {
    @Test("Signatures verify with the test's own Standard Webhooks code; after a rotation both secrets sign, and no other secret does")
    func signedAndRotated() async throws {
        try await DispatcherFixture.run { fixture in
            try await Receiver.run { receiver in
                let endpoint = try await fixture.endpoint(receiver.url("signed"))
                // An attempt timed out on a loaded machine would be sent again: look requests up by event.
                _ = try await fixture.startDispatcher(["SETTLE_WEBHOOK_TIMEOUT_MS": "60000"])
                let first = try await fixture.publishEvent()
                try await eventually("the first event to arrive") { receiver.requests("signed").contains { $0.webhookID == first.lowercased } }
                let request = try #require(receiver.requests("signed").first { $0.webhookID == first.lowercased })
                #expect(request.verified(by: [endpoint.secret]) == [endpoint.secret])
                #expect(request.verified(by: [WebhookSecret.generate()]).isEmpty, "a signature proves its own secret only")
                let envelope = request.json
                #expect(envelope["id"] as? String == first.lowercased)
                #expect(envelope["type"] as? String == "payment.succeeded")
                #expect(envelope["merchant_id"] as? String == fixture.merchant.lowercased)

                let rotated = WebhookSecret.generate()
                _ = try await WebhookEndpointStore(client: fixture.database, logger: DispatcherFixture.logger)
                    .rotateSecret(id: endpoint.id, merchant: fixture.merchant, secret: rotated, overlap: .seconds(3_600), claim: nil) { _ in (0, []) }
                let second = try await fixture.publishEvent()
                try await eventually("the second event to arrive") { receiver.requests("signed").contains { $0.webhookID == second.lowercased } }
                let after = try #require(receiver.requests("signed").first { $0.webhookID == second.lowercased })
                #expect(after.signatures.count == 2)
                #expect(after.verified(by: [rotated, endpoint.secret]) == [rotated, endpoint.secret], "both secrets sign during the overlap")
            }
        }
    }

    @Test("A receiver down for a while, then failing once, then up: every attempt carries the same webhook-id and body, and it is delivered")
    func downThenUp() async throws {
        try await DispatcherFixture.run { fixture in
            let port = try FreePort.make()
            let endpoint = try await fixture.endpoint("http://127.0.0.1:\(port)/back")
            // Enough attempts, and a circuit that does not open, to wait for the receiver; a timeout no loaded
            // machine reaches, so every attempt the receiver sees is answered and counted.
            _ = try await fixture.startDispatcher(["SETTLE_WEBHOOK_SCHEDULE_MS": "0" + String(repeating: ",300", count: 30),
                                                   "SETTLE_WEBHOOK_CIRCUIT_FAILURES": "100", "SETTLE_WEBHOOK_TIMEOUT_MS": "60000"])
            let event = try await fixture.publishEvent()
            // Nothing listens yet: attempts fail to connect.
            try await eventually("two attempts to fail") {
                try await fixture.scalar("SELECT count(*)::int FROM webhook_attempts WHERE status_code IS NULL AND error IS NOT NULL") >= 2
            }
            try await Receiver.run(port: port, { _, nth in nth == 1 ? (503, [:]) : (200, [:]) }) { receiver in
                try await eventually("the delivery to succeed") { try await fixture.deliveries(endpoint.id) == ["succeeded": 1] }
                let requests = receiver.requests("back")
                #expect(requests.count == 2)
                #expect(requests.allSatisfy { $0.webhookID == event.lowercased })
                #expect(Set(requests.map(\.body)).count == 1, "the body is byte for byte the same on every attempt")
                #expect(requests.allSatisfy { $0.verified(by: [endpoint.secret]) == [endpoint.secret] })
            }
            var codes: [Int] = []
            for try await code in try await fixture.database.query("""
                SELECT coalesce(status_code, 0)::int FROM webhook_attempts ORDER BY attempt
                """, logger: DispatcherFixture.logger).decode(Int.self) { codes.append(code) }
            #expect(codes.suffix(2) == [503, 200])
            #expect(codes.dropLast(2).allSatisfy { $0 == 0 }, "every attempt before the receiver came up failed to connect: \(codes)")
        }
    }

    @Test("429 with Retry-After: the next attempt waits at least that long, then delivers")
    func retryAfterHonoured() async throws {
        try await DispatcherFixture.run { fixture in
            try await Receiver.run({ _, nth in nth == 1 ? (429, ["Retry-After": "2"]) : (200, [:]) }) { receiver in
                let endpoint = try await fixture.endpoint(receiver.url("busy"))
                // 200 ms to the second attempt, 300 ms after a 429; a time-out a loaded machine cannot reach,
                // so the first attempt is answered 429 and not timed out.
                _ = try await fixture.startDispatcher(["SETTLE_WEBHOOK_TIMEOUT_MS": "60000"])
                try await fixture.publishEvent()
                try await eventually("the delivery to succeed") { try await fixture.deliveries(endpoint.id) == ["succeeded": 1] }
                let requests = receiver.requests("busy")
                try #require(requests.count == 2)
                let gap = requests[1].receivedAt.timeIntervalSince(requests[0].receivedAt)
                #expect(gap >= 1.95, "Retry-After: 2 was not honoured; the second attempt came \(gap) s after the first")
            }
        }
    }

    @Test("An endpoint failing every attempt past the limit is disabled, and a webhook_endpoint.disabled event reaches the merchant's other endpoint")
    func disabledAfterFailing() async throws {
        try await DispatcherFixture.run { fixture in
            try await Receiver.run({ path, _ in path == "/failing" ? (500, [:]) : (200, [:]) }) { receiver in
                let failing = try await fixture.endpoint(receiver.url("failing"))
                let watcher = try await fixture.endpoint(receiver.url("watcher"), events: ["webhook_endpoint.disabled"])
                // Failing for one second disables; the second attempt comes 1.2–1.8 s after the first.
                _ = try await fixture.startDispatcher(["SETTLE_WEBHOOK_DISABLE_AFTER_MS": "1000", "SETTLE_WEBHOOK_SCHEDULE_MS": "0,1500,1500"])
                try await fixture.publishEvent()
                try await eventually("the endpoint to be disabled") {
                    try await fixture.scalar("""
                        SELECT count(*)::int FROM webhook_endpoints WHERE id = \(failing.id) AND NOT enabled AND disabled_reason = 'failing'
                        """) == 1
                }
                #expect(receiver.requests("failing").count == 2)
                #expect(try await fixture.deliveries(failing.id) == ["pending": 1], "its delivery waits for it to be enabled again")

                // The event, with its outbox row for payments.v1, committed with the change.
                var rows: [(UUID, String, String, String)] = []
                for try await row in try await fixture.database.query("""
                    SELECT e.id, e.data->'object'->>'status', e.data->'object'->>'disabled_reason', o.topic
                    FROM events e JOIN outbox o ON o.event_id = e.id
                    WHERE e.type = 'webhook_endpoint.disabled' AND e.order_id IS NULL AND e.data->'object'->>'id' = \(failing.id.lowercased)
                    """, logger: DispatcherFixture.logger).decode((UUID, String, String, String).self) { rows.append(row) }
                try #require(rows.count == 1)
                #expect(rows[0].1 == "disabled" && rows[0].2 == "failing" && rows[0].3 == "payments.v1")

                // Published as the relay would, it reaches the endpoint subscribed to it.
                try await fixture.republish(rows[0].0, type: .webhookEndpointDisabled, order: failing.id)
                try await eventually("the watcher to be told") { receiver.requests("watcher").count == 1 }
                let told = try #require(receiver.requests("watcher").first)
                #expect(told.verified(by: [watcher.secret]) == [watcher.secret])
                #expect(told.json["type"] as? String == "webhook_endpoint.disabled")
                let object = (told.json["data"] as? [String: Any])?["object"] as? [String: Any]
                #expect(object?["id"] as? String == failing.id.lowercased)
                #expect(object?["secret"] == nil, "an event never carries a secret")
                #expect(!String(decoding: told.body, as: UTF8.self).contains(failing.secret))
            }
        }
    }
}
