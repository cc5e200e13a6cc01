import AsyncHTTPClient
import Foundation
import NIOCore
import SettleDomain
import SettleKafka
import SettleTestSupport
import Testing

/// `settle verify` on a scratch world (a database, topics, a simulator and a sink of the test's
/// own): it passes on a history that kept the contract, and each violation it claims to catch,
/// planted by hand, makes its check fail.
@Suite("settle verify")
struct VerifyTests {
    /// Records an order and its events as the services would, each event a moment after the last.
    static func order(_ fixture: DispatcherFixture, status: String, events types: [EventType]) async throws -> (order: UUID, events: [UUID]) {
        let order = UUIDv7.make()
        try await fixture.database.query("""
            INSERT INTO orders (id, merchant_id, amount, currency, payment_method, status)
            VALUES (\(order), \(fixture.merchant), 1299, 'usd', 'pm_card_ok', \(status))
            """, logger: DispatcherFixture.logger)
        var ids: [UUID] = []
        for (index, type) in types.enumerated() {
            let id = UUIDv7.make()
            try await fixture.database.query("""
                INSERT INTO events (id, merchant_id, order_id, type, data, created_at)
                VALUES (\(id), \(fixture.merchant), \(order), \(type.rawValue), '{}', now() + make_interval(secs => \(Double(index))))
                """, logger: DispatcherFixture.logger)
            ids.append(id)
        }
        return (order, ids)
    }

    static func publish(_ fixture: DispatcherFixture, _ event: UUID, _ type: EventType, order: UUID) async throws {
        try await fixture.producer.send(KafkaProducerMessage(
            topic: fixture.prefix + type.topic, key: Array(order.lowercased.utf8), value: Array(#"{"id":"\#(event.lowercased)"}"#.utf8),
            headers: [KafkaHeader(key: "event-id", value: event.lowercased), KafkaHeader(key: "event-type", value: type.rawValue)]))
    }

    static func charge(_ processor: String, _ order: UUID, key: String) async throws {
        var request = HTTPClientRequest(url: processor + "/charges")
        request.method = .POST
        request.headers.add(name: "Content-Type", value: "application/json")
        request.headers.add(name: "Idempotency-Key", value: key)
        request.body = .bytes(ByteBuffer(string: #"{"order_id":"\#(order.lowercased)","amount":1299,"currency":"usd","payment_method":"pm_card_ok"}"#))
        let response = try await HTTPClient.shared.execute(request, timeout: .seconds(10))
        _ = try await response.body.collect(upTo: 1 << 16)
        #expect(response.status == .ok)
    }

    static func verify(_ fixture: DispatcherFixture, sink: String, _ arguments: [String]) async -> (passed: Bool, output: String) {
        let environment = ["DATABASE_URL": fixture.databaseURL.absoluteString, "KAFKA_BROKERS": TestStack.shared.kafkaBrokers,
                           "SETTLE_TOPIC_PREFIX": fixture.prefix, "SETTLE_SINK_URL": sink]
        do {
            return (true, try await Tool.output(TestStack.executable("settle").path, ["verify"] + arguments, environment: environment))
        } catch {
            let text = "\(error)"
            return (false, text.range(of: "exited 1: ").map { String(text[$0.upperBound...]) } ?? text)
        }
    }

    static func line(_ output: String, _ check: String) -> String {
        output.split(separator: "\n").first { $0.contains(check) && ($0.hasPrefix("ok") || $0.hasPrefix("FAIL") || $0.hasPrefix("skipped")) }
            .map(String.init) ?? ""
    }

    @Test("A history that kept the contract passes; a lost order, a reused key, a double charge, a reordered event and a missing webhook each fail their check")
    func catchesEachViolation() async throws {
        try await DispatcherFixture.run { fixture in
            try await BrokerAdmin().createTopic(fixture.prefix + KafkaTopics.orders, partitions: 4)
            let processorPort = try FreePort.make()
            let processorProcess = try ChildProcess(TestStack.executable("settle"), ["processor", "--port", "\(processorPort)"],
                                                    environment: DispatcherFixture.environment(["DATABASE_URL": fixture.databaseURL.absoluteString]))
            fixture.started.append(processorProcess)
            let processor = "http://127.0.0.1:\(processorPort)"
            try await eventually("the simulator to answer") { (try? await ServiceEndpoint.get(processor + "/healthz").status) == 200 }
            let sink = try await fixture.startSink()
            let endpoint = try await fixture.endpoint(sink.hooks("verify"))
            try await sink.setSecrets([endpoint.secret])
            _ = try await fixture.startDispatcher()

            // A history that kept the contract: one order created, charged once, its events on
            // Kafka in order, its webhook delivered to the sink.
            let good = try await Self.order(fixture, status: "succeeded", events: [.orderCreated, .paymentSucceeded])
            try await Self.charge(processor, good.order, key: "settle-charge-\(good.order.lowercased)")
            try await Self.publish(fixture, good.events[0], .orderCreated, order: good.order)
            try await Self.publish(fixture, good.events[1], .paymentSucceeded, order: good.order)
            let history = FileManager.default.temporaryDirectory.appendingPathComponent(UniqueName.make("history") + ".jsonl")
            defer { try? FileManager.default.removeItem(at: history) }
            let goodLine = #"{"key":"k1","merchant":"\#(fixture.merchant.lowercased)","order_id":"\#(good.order.lowercased)","status":201}"#
            try Data((goodLine + "\n").utf8).write(to: history)
            let clean = await Self.verify(fixture, sink: sink.url, ["--history", history.path, "--settle", "60"])
            #expect(clean.passed, "\(clean.output)")
            #expect(clean.output.contains("the contract held"), "\(clean.output)")
            for check in ["every 201", "Idempotency-Key", "one outcome", "charged at most once", "events on Kafka", "every webhook"] {
                #expect(Self.line(clean.output, check).hasPrefix("ok"), "\(check): \(clean.output)")
            }

            // Now plant one violation of each kind.
            // A 201 whose order is not in PostgreSQL, and a key answered with two orders.
            let lost = UUIDv7.make()
            let bad = try await Self.order(fixture, status: "refund_pending", events: [.orderCreated, .paymentSucceeded, .refundRequested])
            let lines = [goodLine,
                         #"{"key":"k2","merchant":"\#(fixture.merchant.lowercased)","order_id":"\#(lost.lowercased)","status":201}"#,
                         #"{"key":"k1","merchant":"\#(fixture.merchant.lowercased)","order_id":"\#(bad.order.lowercased)","status":201}"#]
            try Data((lines.joined(separator: "\n") + "\n").utf8).write(to: history)
            // Charged twice (two keys for one order).
            try await Self.charge(processor, bad.order, key: "first-\(bad.order.lowercased)")
            try await Self.charge(processor, bad.order, key: "second-\(bad.order.lowercased)")
            // The order's events on orders.v1 in the wrong order; its payment event never published.
            try await Self.publish(fixture, bad.events[2], .refundRequested, order: bad.order)
            try await Self.publish(fixture, bad.events[0], .orderCreated, order: bad.order)
            // A delivery marked succeeded that the sink never received.
            try await fixture.database.query("""
                INSERT INTO webhook_deliveries (id, event_id, endpoint_id, status, delivered_at)
                VALUES (\(UUID()), \(bad.events[1]), \(endpoint.id), 'succeeded', now())
                """, logger: DispatcherFixture.logger)

            let planted = await Self.verify(fixture, sink: sink.url, ["--history", history.path, "--settle", "0"])
            #expect(!planted.passed, "\(planted.output)")
            for check in ["every 201", "Idempotency-Key", "charged at most once", "events on Kafka", "every webhook"] {
                #expect(Self.line(planted.output, check).hasPrefix("FAIL"), "\(check) did not fail: \(planted.output)")
            }
            #expect(planted.output.contains(lost.lowercased), "the lost order is named")
            #expect(planted.output.contains("charged 2 times"))
            #expect(planted.output.contains("came after the later event"))
            #expect(planted.output.contains("the sink never received it"))
        }
    }
}
