import Foundation
import SettleKafka
import SettleTestSupport
import Synchronization
import Testing

/// Faults injected through the development broker's admin port, each test on a broker of
/// its own: a broker taken down on the shared one would be down for every other test too.
@Suite("Kafka under broker faults")
struct KafkaFaultTests {
    @Test("A broker down and back: sends in flight complete, nothing lost or duplicated, order per key kept")
    func brokerDownAndBack() async throws {
        let broker = try await PrivateBroker.start()
        let admin = broker.admin
        let topic = try await KafkaTestClients.topic(partitions: 12, admin: admin)
        let producer = try KafkaTestClients.producer(brokers: broker.bootstrapServers)
        let acknowledged = SendProgress()
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask {
                try await KafkaTestClients.sendKeyed(producer, topic: topic, keys: 24, perKey: 100, progress: acknowledged)
            }
            try await eventually("some sends to be acknowledged") { acknowledged.value >= 300 }
            try await admin.brokerDown(2)
            let atDown = acknowledged.value
            // Partitions led by other brokers keep going while broker 2 is away.
            try await eventually("sends to progress with broker 2 down") { acknowledged.value >= atDown + 100 }
            try await admin.brokerUp(2)
            try await group.waitForAll()
        }
        #expect(acknowledged.value == 2_400)
        await producer.shutdown()

        let received = try await KafkaTestClients.consume(group: UniqueName.make("group"), topic: topic, until: 2_400,
                                                          brokers: broker.bootstrapServers)
        try await broker.stop()
        #expect(Set(received.map(\.valueString)).count == 2_400, "nothing lost")
        #expect(received.count == 2_400, "nothing duplicated")
        #expect(KafkaTestClients.outOfOrderKeys(received).isEmpty, "order per key kept")
    }

    @Test("Many records of each key in flight at once while produce requests fail: no duplicate, order per key kept")
    func inFlightRecordsWithInjectedErrors() async throws {
        let received = try await Self.sendInFlightWithErrors(idempotence: true)
        #expect(received.count == 400, "the idempotent producer wrote no duplicate")
        #expect(KafkaTestClients.outOfOrderKeys(received).isEmpty, "order per key kept")
    }

    /// Each key's 100 records handed over at once (several produce requests of one partition in
    /// flight, 50 ms apart in round trip), while the next produce requests fail with retriable
    /// errors: a retried request must not land behind the ones sent after it.
    static func sendInFlightWithErrors(idempotence: Bool) async throws -> [KafkaConsumerMessage] {
        let broker = try await PrivateBroker.start()
        do {
            return try await sendInFlightWithErrors(idempotence: idempotence, broker: broker)
        } catch {
            try? await broker.stop()
            throw error
        }
    }

    private static func sendInFlightWithErrors(idempotence: Bool, broker: PrivateBroker) async throws -> [KafkaConsumerMessage] {
        let topic = try await KafkaTestClients.topic(partitions: 1, admin: broker.admin)
        for id in 1...3 { try await broker.admin.roundTripTime(id, milliseconds: 50) }
        let producer = try KafkaProducer(
            configuration: KafkaConfiguration(bootstrapServers: broker.bootstrapServers, clientID: "settle-tests",
                                              properties: ["enable.idempotence": String(idempotence), "batch.num.messages": "5"]),
            logger: KafkaTestClients.logger)
        // 6 = NOT_LEADER_OR_FOLLOWER, 7 = REQUEST_TIMED_OUT; API key 0 = Produce.
        try await broker.admin.pushErrors(apiKey: 0, codes: [6, 7, 6, 7, 6, 7])
        let messages = (0..<100).flatMap { sequence in
            (0..<4).map { key in KafkaProducerMessage(topic: topic, key: "key-\(key)", value: "key-\(key):\(sequence)") }
        }
        let results = await producer.sendAll(messages)
        #expect(results.allSatisfy { (try? $0.get()) != nil }, "every record acknowledged")
        await producer.shutdown()
        for id in 1...3 { try await broker.admin.roundTripTime(id, milliseconds: 0) }
        let received = try await KafkaTestClients.consume(group: UniqueName.make("group"), topic: topic, until: 400,
                                                          brokers: broker.bootstrapServers)
        try await broker.stop()
        return received
    }
}
