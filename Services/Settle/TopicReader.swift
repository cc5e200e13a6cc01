import Foundation
import Logging
import SettleKafka
import Synchronization

/// Reads whole topics from the beginning, as a group of its own that commits nothing, up to
/// the high watermarks they had when it started.
enum TopicReader {
    struct Failure: Error, CustomStringConvertible {
        var description: String
    }

    static func readAll(topics: [String], brokers: String, limit: Duration = .seconds(120)) async throws -> [KafkaConsumerMessage] {
        let existing = try await KafkaMetadata.topics(bootstrapServers: brokers)
        if let missing = topics.first(where: { existing[$0] == nil }) { throw Failure(description: "no topic \(missing)") }
        let counts = Dictionary(uniqueKeysWithValues: topics.map { ($0, existing[$0] ?? 0) })
        // What each partition still owes: its last offset, for those that hold messages.
        var owed = try await KafkaMetadata.highWatermarks(bootstrapServers: brokers, topics: counts).filter { $0.value > 0 }
            .mapValues { $0 - 1 }
        guard !owed.isEmpty else { return [] }
        let logger = Logger(label: "settle-verify") { _ in SwiftLogNoOpLogHandler() }
        let consumer = try KafkaConsumer(configuration: KafkaConfiguration(bootstrapServers: brokers, clientID: "settle-verify"),
                                         groupID: "settle-verify-" + UUID().uuidString.lowercased(), topics: topics, logger: logger)
        let deadline = Task {
            try await Task.sleep(for: limit)
            await consumer.shutdown()
        }
        var messages: [KafkaConsumerMessage] = []
        for await message in consumer.messages {
            messages.append(message)
            if let last = owed[message.topicPartition], message.offset >= last { owed[message.topicPartition] = nil }
            if owed.isEmpty { break }
        }
        deadline.cancel()
        await consumer.shutdown()
        guard owed.isEmpty else {
            throw Failure(description: "not caught up with \(topics.joined(separator: ", ")) within \(limit): \(owed.count) partition(s) short")
        }
        return messages
    }
}
