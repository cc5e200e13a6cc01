import ArgumentParser
import AsyncHTTPClient
import Foundation
import Logging
import SettleDomain
import SettleKafka
import SettleRuntime

struct BenchKafkaCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench-kafka",
        abstract: "Measure Settle's Kafka client: producer messages/s with awaited delivery, then consumer messages/s."
    )

    @Option(help: "Messages to produce and consume.")
    var messages = 100_000

    @Option(help: "Value size in bytes.")
    var size = 1024

    @Option(help: "Partitions of the benchmark topic.")
    var partitions = 12

    @Option(help: "Sends awaiting their acknowledgement at once.")
    var inFlight = 5_000

    @Option(help: "Topic to use (created through the broker admin port when it is the development broker).")
    var topic: String?

    func run() async throws {
        let environment = StackEnvironment.load()
        let reader = EnvironmentReader(environment)
        let brokers = try reader.hostPortList("KAFKA_BROKERS", default: ServiceSettings.defaultKafkaBrokers)
        let topic = self.topic ?? "bench-\(UUID().uuidString.prefix(8).lowercased())"
        if self.topic == nil, let admin = environment["SETTLE_BROKER_ADMIN_URL"] {
            var request = HTTPClientRequest(url: "\(admin)/topics/\(topic)?partitions=\(partitions)")
            request.method = .POST
            _ = try await HTTPClient.shared.execute(request, timeout: .seconds(10))
        }
        var logger = Logger(label: "settle-bench")
        logger.logLevel = .error
        let configuration = KafkaConfiguration(bootstrapServers: brokers, clientID: "settle-bench")
        let value = [UInt8](repeating: UInt8(ascii: "x"), count: size)

        let producer = try KafkaProducer(configuration: configuration, logger: logger)
        let total = messages
        let window = inFlight
        let produceStart = ContinuousClock.now
        try await withThrowingTaskGroup(of: Void.self) { group in
            var next = 0
            func add(_ group: inout ThrowingTaskGroup<Void, any Error>) {
                let index = next
                next += 1
                group.addTask {
                    try await producer.send(KafkaProducerMessage(topic: topic, key: Array("key-\(index % 1000)".utf8), value: value))
                }
            }
            while next < min(window, total) { add(&group) }
            while try await group.next() != nil {
                if next < total { add(&group) }
            }
        }
        let produceTime = ContinuousClock.now - produceStart

        // The same records again through sendAll: chunks of 1,000 enqueued under one lock, four
        // chunks in flight, each awaited until every record in it was acknowledged.
        let batchStart = ContinuousClock.now
        try await withThrowingTaskGroup(of: Void.self) { group in
            let chunks = stride(from: 0, to: total, by: 1_000).map { $0..<min($0 + 1_000, total) }
            var iterator = chunks.makeIterator()
            func add(_ group: inout ThrowingTaskGroup<Void, any Error>) {
                guard let chunk = iterator.next() else { return }
                group.addTask {
                    let records = chunk.map { KafkaProducerMessage(topic: topic, key: Array("key-\($0 % 1000)".utf8), value: value) }
                    for result in await producer.sendAll(records) { _ = try result.get() }
                }
            }
            for _ in 0..<4 { add(&group) }
            while try await group.next() != nil { add(&group) }
        }
        let batchTime = ContinuousClock.now - batchStart
        await producer.shutdown()

        let consumer = try KafkaConsumer(configuration: configuration, groupID: "bench-\(topic)", topics: [topic], logger: logger,
                                         bufferCapacity: 10_000)
        var count = 0
        var consumeStart: ContinuousClock.Instant?
        for await message in consumer.messages {
            if consumeStart == nil { consumeStart = .now }
            count += 1
            if count % 10_000 == 0 || count == total { try await consumer.commit(message) }
            if count >= total { break }
        }
        let consumeTime = ContinuousClock.now - (consumeStart ?? .now)
        await consumer.shutdown()

        func rate(_ duration: Duration) -> Int {
            let seconds = duration.seconds
            return seconds > 0 ? Int(Double(total) / seconds) : 0
        }
        print("topic=\(topic) messages=\(total) size=\(size) partitions=\(partitions) in_flight=\(window)")
        print("settle_producer_msgs_per_s=\(rate(produceTime))")
        print("settle_producer_batch_msgs_per_s=\(rate(batchTime))")
        print("settle_consumer_msgs_per_s=\(rate(consumeTime))")
    }
}
