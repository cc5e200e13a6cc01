import Foundation
import SettleDomain
import SettleKafka
import SettleTestSupport
import Testing

@Suite("Retry topics, the dead-letter topic and replays")
struct RetryTopicTests {
    @Test("pm_card_down walks the retry topics to orders.v1.dlq; orders on other partitions settle while it waits on retry.3")
    func downWalksTheTiers() async throws {
        try await WorkerFixture.run { fixture in
            let worker = try await fixture.startWorker(["SETTLE_WORKER_RETRY_DELAYS_MS": "100,100,8000"])
            let down = try await fixture.createOrder("pm_card_down")
            try await eventually("the order to wait on the last retry topic") {
                try await worker.metric("settle_worker_retries_total", labels: "orders.v1.retry.3") >= 1
            }
            // Its retry.3 partition is paused until the message is due; everything else goes on.
            let others = try await fixture.createOrders(Array(repeating: "pm_card_ok", count: 12))
            try await eventually("the other orders to succeed") { try await fixture.statuses(others)["succeeded"] == 12 }
            #expect(try await fixture.deadLetters().isEmpty, "the down order was still waiting when the others settled")

            try await eventually("the down order to be dead-lettered", within: .seconds(60)) { try await !fixture.deadLetters().isEmpty }
            let letter = try #require(try await fixture.deadLetters().first)
            #expect(letter.key == down.lowercased)
            #expect(letter.errorClass == "processor_unavailable")
            #expect(letter.sourceTopic == "orders.v1.retry.3")
            #expect(letter.attempts == 12, "3 tries on orders.v1 and on each retry topic")
            #expect(try await fixture.status(down)?.status == "pending", "a dead-lettered order stays pending")
            #expect(try await fixture.counts(down).charges == 0)
            try await eventually("the DLQ-depth gauge to show it") { try await worker.metric("settle_dlq_depth") == 1 }

            // The copy on the dead-letter topic carries the headers DESIGN.md lists.
            let message = try #require(try await Self.read(KafkaTopics.ordersDeadLetter, fixture: fixture, count: 1).first)
            for header in ["event-id", "dlq-original-topic", "dlq-original-partition", "dlq-original-offset", "dlq-consumer-group",
                           "dlq-error-class", "dlq-error-message", "dlq-attempts", "dlq-first-failed-at", "dlq-count"] {
                #expect(message.headers.first(named: header) != nil, "missing \(header)")
            }
            #expect(message.headers.first(named: "dlq-original-topic") == "orders.v1")
            try await fixture.kill(worker, SIGTERM)
        }
    }

    @Test("settle dlq replay sends a dead letter back and it settles; one dead-lettered more than N times is parked")
    func replayAndPark() async throws {
        try await WorkerFixture.run { fixture in
            let worker = try await fixture.startWorker(["SETTLE_WORKER_RETRY_DELAYS_MS": "50,50,50", "SETTLE_WORKER_TRIES": "1"])
            try await fixture.faults(#"{"error_rate":1.0}"#)
            let order = try await fixture.createOrder("pm_card_ok")
            let down = try await fixture.createOrder("pm_card_down")
            try await eventually("both orders to be dead-lettered") { try await fixture.deadLetters().count == 2 }
            try await fixture.faults(#"{"error_rate":0.0}"#)

            // The processor is back: the replayed order settles, charged once.
            let listed = try await Self.settle(["dlq", "list"], fixture: fixture)
            #expect(listed.contains(order.lowercased) && listed.contains(down.lowercased))
            try await Self.settle(["dlq", "replay", "--id", order.lowercased], fixture: fixture)
            try await eventually("the replayed order to succeed") { try await fixture.status(order)?.status == "succeeded" }
            #expect(try await fixture.counts(order).charges == 1)

            // pm_card_down fails again: dead-lettered a second time, then parked instead of replayed.
            try await Self.settle(["dlq", "replay", "--id", down.lowercased, "--max-dead-letters", "1"], fixture: fixture)
            try await eventually("the down order to be dead-lettered again") {
                try await fixture.deadLetters().contains { $0.key == down.lowercased && $0.deadLetterCount == 2 }
            }
            let parked = try await Self.settle(["dlq", "replay", "--all", "--max-dead-letters", "1"], fixture: fixture)
            #expect(parked.contains("parked on orders.v1.parked"), "\(parked)")
            #expect(try await fixture.deadLetters().isEmpty)
            let message = try #require(try await Self.read(KafkaTopics.ordersParked, fixture: fixture, count: 1).first)
            #expect(message.keyString == down.lowercased)
            #expect(message.headers.first(named: "dlq-count") == "2")
            #expect(try await fixture.status(down)?.status == "pending")
            try await fixture.kill(worker, SIGTERM)
        }
    }

    /// Runs `settle` against the test's database and broker; returns what it printed.
    @discardableResult
    static func settle(_ arguments: [String], fixture: WorkerFixture) async throws -> String {
        let process = try ChildProcess(TestStack.executable("settle"), arguments, environment: WorkerFixture.environment([
            "DATABASE_URL": fixture.databaseURL.absoluteString, "KAFKA_BROKERS": fixture.broker.bootstrapServers,
        ]))
        fixture.started.append(process)
        try await eventually("settle \(arguments.joined(separator: " ")) to finish") { process.outputClosed }
        return process.output.joined(separator: "\n")
    }

    /// The first `count` messages of a topic on the test's broker.
    static func read(_ topic: String, fixture: WorkerFixture, count: Int) async throws -> [KafkaConsumerMessage] {
        let consumer = try KafkaConsumer(
            configuration: KafkaConfiguration(bootstrapServers: fixture.broker.bootstrapServers, clientID: "worker-tests"),
            groupID: UniqueName.make("read"), topics: [topic], logger: WorkerFixture.logger)
        // At the deadline the consumer shuts down, which ends the loop below.
        let deadline = Task {
            try await Task.sleep(for: .seconds(30))
            await consumer.shutdown()
        }
        var messages: [KafkaConsumerMessage] = []
        for await message in consumer.messages {
            messages.append(message)
            if messages.count >= count { break }
        }
        deadline.cancel()
        await consumer.shutdown()
        return messages
    }
}
