import Logging
import SettleKafka
import SettleTestSupport
import Synchronization

/// Producers and consumers for one test, on topics of its own.
enum KafkaTestClients {
    static let logger: Logger = {
        var logger = Logger(label: "settle-kafka-tests")
        logger.logLevel = .error
        return logger
    }()

    /// The shared development broker of the local stack, or `brokers` (a private one).
    static func configuration(brokers: String? = nil) -> KafkaConfiguration {
        KafkaConfiguration(bootstrapServers: brokers ?? TestStack.shared.kafkaBrokers, clientID: "settle-tests")
    }

    static func topic(partitions: Int, admin: BrokerAdmin? = nil) async throws -> String {
        let name = UniqueName.make("test")
        try await (admin ?? BrokerAdmin()).createTopic(name, partitions: partitions)
        return name
    }

    static func producer(brokers: String? = nil) throws -> KafkaProducer {
        try KafkaProducer(configuration: configuration(brokers: brokers), logger: logger)
    }

    static func consumer(group: String, topic: String, brokers: String? = nil) throws -> KafkaConsumer {
        try KafkaConsumer(configuration: configuration(brokers: brokers), groupID: group, topics: [topic], logger: logger)
    }

    /// Sends `count` messages for each key, each key's messages one after another (awaiting
    /// each acknowledgement), all keys concurrently. Values are "key:sequence".
    static func sendKeyed(_ producer: KafkaProducer, topic: String, keys: Int, perKey: Int, headers: [KafkaHeader] = [],
                          progress: SendProgress? = nil) async throws {
        try await withThrowingTaskGroup(of: Void.self) { group in
            for key in 0..<keys {
                group.addTask {
                    for sequence in 0..<perKey {
                        try await producer.send(KafkaProducerMessage(topic: topic, key: "key-\(key)", value: "key-\(key):\(sequence)", headers: headers))
                        progress?.increment()
                    }
                }
            }
            try await group.waitForAll()
        }
    }

    /// Reads until `count` distinct values (counting `alreadySeen`) arrived, committing as it goes,
    /// then leaves the group. Returns every value received, in arrival order, duplicates included.
    static func consume(group: String, topic: String, until count: Int, alreadySeen: Set<String> = [],
                        brokers: String? = nil) async throws -> [KafkaConsumerMessage] {
        let consumer = try consumer(group: group, topic: topic, brokers: brokers)
        var received: [KafkaConsumerMessage] = []
        var distinct = alreadySeen
        let deadline = ContinuousClock.now + .seconds(120)
        for await message in consumer.messages {
            received.append(message)
            distinct.insert(message.valueString)
            if received.count % 200 == 0 || distinct.count >= count { try await consumer.commit(message) }
            if distinct.count >= count || ContinuousClock.now > deadline { break }
        }
        await consumer.shutdown()
        return received
    }

    /// Checks that, per key, values arrive with strictly increasing sequence numbers.
    static func outOfOrderKeys(_ messages: [KafkaConsumerMessage]) -> [String] {
        var last: [String: Int] = [:]
        var broken: Set<String> = []
        for message in messages {
            let parts = message.valueString.split(separator: ":")
            guard parts.count == 2, let sequence = Int(parts[1]) else { continue }
            let key = String(parts[0])
            if let previous = last[key], sequence <= previous { broken.insert(key) }
            last[key] = sequence
        }
        return broken.sorted()
    }
}

/// Counts acknowledged sends across tasks.
final class SendProgress: Sendable {
    private let count = Atomic<Int>(0)
    func increment() { count.add(1, ordering: .relaxed) }
    var value: Int { count.load(ordering: .relaxed) }
}
