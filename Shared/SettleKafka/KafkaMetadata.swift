import Crdkafka

/// Cluster metadata, used to check at start-up that the brokers answer and topics exist.
public enum KafkaMetadata {
    /// The topic names the cluster reports, with their partition counts.
    ///
    /// The blocking metadata request runs on a dedicated thread.
    /// - Throws: `KafkaError` when no broker answered within `timeout`.
    public static func topics(bootstrapServers: String, timeout: Duration = .seconds(5)) async throws -> [String: Int] {
        let conf = try RDKafkaConfig.make([
            "bootstrap.servers": bootstrapServers,
            "log_level": "0",
            "socket.connection.setup.timeout.ms": "\(max(1000, timeout.components.seconds * 1000))",
        ])
        let handle = RDKafkaHandle(try RDKafkaConfig.client(type: RD_KAFKA_PRODUCER, conf: conf))
        let milliseconds = Int32(timeout.components.seconds * 1000)
        let result: Result<[String: Int], KafkaError> = await runOnDedicatedThread(name: "settle-kafka-metadata") {
            defer { handle.destroy() }
            var metadata: UnsafePointer<rd_kafka_metadata>?
            let error = rd_kafka_metadata(handle.pointer, 1, nil, &metadata, milliseconds)
            guard error == RD_KAFKA_RESP_ERR_NO_ERROR, let metadata else { return .failure(KafkaError(error)) }
            defer { rd_kafka_metadata_destroy(metadata) }
            var topics: [String: Int] = [:]
            for index in 0..<Int(metadata.pointee.topic_cnt) {
                let topic = metadata.pointee.topics[index]
                topics[String(cString: topic.topic)] = Int(topic.partition_cnt)
            }
            return .success(topics)
        }
        return try result.get()
    }

    /// The high watermark (the offset the next message will get) of every partition of
    /// `topics` (name → partition count), asked of the brokers; the blocking requests run on a
    /// dedicated thread.
    public static func highWatermarks(bootstrapServers: String, topics: [String: Int],
                                      timeout: Duration = .seconds(5)) async throws -> [KafkaTopicPartition: Int64] {
        let conf = try RDKafkaConfig.make(["bootstrap.servers": bootstrapServers, "log_level": "0"])
        let handle = RDKafkaHandle(try RDKafkaConfig.client(type: RD_KAFKA_PRODUCER, conf: conf))
        let milliseconds = Int32(timeout.components.seconds * 1000)
        let result: Result<[KafkaTopicPartition: Int64], KafkaError> = await runOnDedicatedThread(name: "settle-kafka-watermarks") {
            defer { handle.destroy() }
            var marks: [KafkaTopicPartition: Int64] = [:]
            for (topic, count) in topics {
                for partition in 0..<Int32(count) {
                    var low: Int64 = -1, high: Int64 = -1
                    let error = rd_kafka_query_watermark_offsets(handle.pointer, topic, partition, &low, &high, milliseconds)
                    guard error == RD_KAFKA_RESP_ERR_NO_ERROR else { return .failure(KafkaError(error)) }
                    marks[KafkaTopicPartition(topic: topic, partition: partition)] = high
                }
            }
            return .success(marks)
        }
        return try result.get()
    }
}
