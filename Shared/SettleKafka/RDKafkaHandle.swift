import Crdkafka
import Foundation

/// Owns an `rd_kafka_t`.
///
/// `@unchecked Sendable` is safe: librdkafka's handle is thread-safe for every call Settle
/// makes on it, and the pointer itself never changes. Destruction is explicit
/// (`destroy()`, called once, from a dedicated thread, after every user has stopped).
final class RDKafkaHandle: @unchecked Sendable {
    let pointer: OpaquePointer

    init(_ pointer: OpaquePointer) {
        self.pointer = pointer
    }

    func destroy() {
        rd_kafka_destroy(pointer)
    }
}

/// A queue handle from librdkafka; thread-safe like the client handle it belongs to.
final class RDKafkaQueue: @unchecked Sendable {
    let pointer: OpaquePointer

    init(_ pointer: OpaquePointer) {
        self.pointer = pointer
    }
}

enum RDKafkaTopicPartitionList {
    /// Copies a C partition list into Swift values.
    static func read(_ list: UnsafeMutablePointer<rd_kafka_topic_partition_list_t>) -> [(KafkaTopicPartition, Int64)] {
        let count = Int(list.pointee.cnt)
        return (0..<count).map { index in
            let element = list.pointee.elems[index]
            return (KafkaTopicPartition(topic: String(cString: element.topic), partition: element.partition), element.offset)
        }
    }

    /// Runs `body` with a temporary C partition list holding `entries`.
    static func withList<T>(
        _ entries: [(KafkaTopicPartition, Int64)],
        _ body: (UnsafeMutablePointer<rd_kafka_topic_partition_list_t>) -> T
    ) -> T {
        let list = rd_kafka_topic_partition_list_new(Int32(entries.count))!
        defer { rd_kafka_topic_partition_list_destroy(list) }
        for (topicPartition, offset) in entries {
            let element = rd_kafka_topic_partition_list_add(list, topicPartition.topic, topicPartition.partition)!
            element.pointee.offset = offset
        }
        return body(list)
    }
}

/// Runs a blocking librdkafka call on a thread of its own and resumes the caller when it returns,
/// so calls such as `rd_kafka_flush` or `rd_kafka_metadata` never block Swift's cooperative pool.
func runOnDedicatedThread<T: Sendable>(name: String, _ body: @escaping @Sendable () -> T) async -> T {
    await withCheckedContinuation { continuation in
        let thread = Thread {
            continuation.resume(returning: body())
        }
        thread.name = name
        thread.start()
    }
}
