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

    @Test("Injected produce errors (not leader, request timed out): retried with no duplicate and no reordering")
    func injectedProduceErrors() async throws {
        let broker = try await PrivateBroker.start()
        let topic = try await KafkaTestClients.topic(partitions: 6, admin: broker.admin)
        let producer = try KafkaTestClients.producer(brokers: broker.bootstrapServers)
        // 6 = NOT_LEADER_OR_FOLLOWER, 7 = REQUEST_TIMED_OUT; API key 0 = Produce.
        try await broker.admin.pushErrors(apiKey: 0, codes: [6, 7, 6, 7, 6, 7, 6, 7])
        try await KafkaTestClients.sendKeyed(producer, topic: topic, keys: 12, perKey: 50)
        await producer.shutdown()

        let received = try await KafkaTestClients.consume(group: UniqueName.make("group"), topic: topic, until: 600,
                                                          brokers: broker.bootstrapServers)
        try await broker.stop()
        #expect(Set(received.map(\.valueString)).count == 600)
        #expect(received.count == 600, "the idempotent producer wrote no duplicate")
        #expect(KafkaTestClients.outOfOrderKeys(received).isEmpty)
    }
}
