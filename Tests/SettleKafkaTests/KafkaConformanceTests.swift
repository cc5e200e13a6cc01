import Foundation
import SettleKafka
import SettleTestSupport
import Synchronization
import Testing

/// The Kafka client against the development broker, each test on its own topic and group.
@Suite("Kafka conformance")
struct KafkaConformanceTests {
    @Test("10,000 keyed messages over 12 partitions: every one consumed, order per key kept")
    func orderPerKey() async throws {
        let topic = try await KafkaTestClients.topic(partitions: 12)
        let producer = try KafkaTestClients.producer()
        try await KafkaTestClients.sendKeyed(producer, topic: topic, keys: 100, perKey: 100)
        await producer.shutdown()

        let received = try await KafkaTestClients.consume(group: UniqueName.make("group"), topic: topic, until: 10_000)
        #expect(Set(received.map(\.valueString)).count == 10_000)
        #expect(received.count == 10_000, "no duplicates without a failure")
        #expect(KafkaTestClients.outOfOrderKeys(received).isEmpty)
        #expect(Set(received.map(\.partition)).count == 12, "keys spread over every partition")
    }

    @Test("A consumer SIGKILLed mid-stream: the next member resumes from the last commit")
    func killedConsumerResumes() async throws {
        let topic = try await KafkaTestClients.topic(partitions: 4)
        let group = UniqueName.make("group")
        let producer = try KafkaTestClients.producer()
        try await KafkaTestClients.sendKeyed(producer, topic: topic, keys: 20, perKey: 100)
        await producer.shutdown()

        var environment = ProcessInfo.processInfo.environment
        environment["KAFKA_BROKERS"] = TestStack.shared.kafkaBrokers
        let child = try ChildProcess(TestStack.executable("settle"), ["consume", "--topic", topic, "--group", group], environment: environment)
        try await eventually("the child consumer to print 500 messages", within: .seconds(60)) { child.output.count >= 500 }
        child.kill(SIGKILL)
        try await eventually("the child to die and its output to be read") { child.outputClosed }
        let beforeKill = child.output.compactMap(ConsumedLine.init)

        let seenBefore = Set(beforeKill.map(\.value))
        let after = try await KafkaTestClients.consume(group: group, topic: topic, until: 2_000, alreadySeen: seenBefore)
        let all = beforeKill.map(\.value) + after.map(\.valueString)
        #expect(Set(all).count == 2_000, "nothing missing")
        // The child commits each message right after printing it: at most the one it was
        // committing when killed is read again.
        let duplicates = all.count - Set(all).count
        #expect(duplicates <= 1, "duplicates only of uncommitted messages (got \(duplicates))")
    }

    @Test("A consumer that shuts down gracefully leaves the group: the other member takes over before a session time-out could pass")
    func gracefulShutdownLeavesGroup() async throws {
        let topic = try await KafkaTestClients.topic(partitions: 12)
        let group = UniqueName.make("group")
        let first = try KafkaTestClients.consumer(group: group, topic: topic)
        try await eventually("the first member to own all partitions") { first.assignment.count == 12 }
        let second = try KafkaTestClients.consumer(group: group, topic: topic)
        try await eventually("the partitions to be split between both members", within: .seconds(60)) {
            first.assignment.count + second.assignment.count == 12 && !second.assignment.isEmpty && !first.assignment.isEmpty
        }
        await first.shutdown()
        // Without a LeaveGroup the coordinator would wait for the 6 s session time-out and then
        // run its join window (about 5 s in the mock cluster): 11 s or more. With it, only the join window.
        try await eventually("the second member to own all 12 partitions", within: .seconds(8)) { second.assignment.count == 12 }
        await second.shutdown()
    }

    @Test("Interoperability: kcat's messages and headers reach Settle's consumer, Settle's reach kcat")
    func kcatInteroperability() async throws {
        let kcat = try #require(["/usr/bin/kcat", "/usr/bin/kafkacat"].first { FileManager.default.isExecutableFile(atPath: $0) },
                                "kcat is installed by .ci/run and settle up")
        let topic = try await KafkaTestClients.topic(partitions: 3)
        let brokers = TestStack.shared.kafkaBrokers

        // kcat → Settle
        let input = FileManager.default.temporaryDirectory.appendingPathComponent("\(topic).txt")
        try (0..<10).map { "order-\($0):payload-\($0)" }.joined(separator: "\n").appending("\n").write(to: input, atomically: true, encoding: .utf8)
        let produced = try ChildProcess(URL(fileURLWithPath: kcat), ["-b", brokers, "-P", "-t", topic, "-K", ":", "-H", "event-type=order.created", "-l", input.path])
        try await eventually("kcat to finish producing") { produced.outputClosed }
        let received = try await KafkaTestClients.consume(group: UniqueName.make("group"), topic: topic, until: 10)
        #expect(Set(received.map(\.valueString)) == Set((0..<10).map { "payload-\($0)" }))
        #expect(received.allSatisfy { $0.keyString == "order-\($0.valueString.dropFirst("payload-".count))" })
        #expect(received.allSatisfy { $0.headers.first(named: "event-type") == "order.created" })

        // Settle → kcat
        let producer = try KafkaTestClients.producer()
        for index in 0..<5 {
            try await producer.send(KafkaProducerMessage(topic: topic, key: "settle-\(index)", value: "from-settle-\(index)",
                                                         headers: [KafkaHeader(key: "event-id", value: "evt-\(index)")]))
        }
        await producer.shutdown()
        // Until all 15 messages (kcat's 10 and Settle's 5) were read, rather than until kcat sees
        // the end of every partition (-e), which it sometimes never reports on the mock broker.
        let consumed = try ChildProcess(URL(fileURLWithPath: kcat), ["-b", brokers, "-C", "-t", topic, "-o", "beginning", "-c", "15", "-q", "-f", "%k|%s|%h\\n"])
        try await eventually("kcat to read the topic") { consumed.outputClosed }
        let lines = Set(consumed.output.filter { $0.hasPrefix("settle-") })
        #expect(lines == Set((0..<5).map { "settle-\($0)|from-settle-\($0)|event-id=evt-\($0)" }))
    }

    @Test("Pausing a partition stops its messages; resuming delivers them, none lost")
    func pauseAndResume() async throws {
        let topic = try await KafkaTestClients.topic(partitions: 2)
        let producer = try KafkaTestClients.producer()
        for index in 0..<50 {
            try await producer.send(KafkaProducerMessage(topic: topic, partition: Int32(index % 2), key: nil, value: Array("m\(index)".utf8)))
        }
        await producer.shutdown()
        let consumer = try KafkaTestClients.consumer(group: UniqueName.make("group"), topic: topic)
        var iterator = consumer.messages.makeAsyncIterator()
        var seen: [KafkaConsumerMessage] = []
        let first = try #require(await iterator.next())
        seen.append(first)
        let paused = first.topicPartition
        consumer.pause(paused)
        // Everything of the other partition arrives while the first is paused.
        while seen.filter({ $0.topicPartition != paused }).count < 25, let message = await iterator.next() {
            seen.append(message)
        }
        #expect(seen.filter { $0.topicPartition == paused }.count == 1, "nothing from the paused partition")
        consumer.resume(paused)
        while Set(seen.map(\.valueString)).count < 50, let message = await iterator.next() {
            seen.append(message)
        }
        #expect(Set(seen.map(\.valueString)).count == 50)
        await consumer.shutdown()
    }
}

/// One line printed by `settle consume`.
struct ConsumedLine {
    var partition: Int
    var offset: Int64
    var value: String

    init?(_ line: String) {
        guard let data = line.data(using: .utf8),
              let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any],
              let partition = object["partition"] as? Int, let offset = object["offset"] as? Int,
              let value = object["value"] as? String else { return nil }
        self.partition = partition
        self.offset = Int64(offset)
        self.value = value
    }
}
