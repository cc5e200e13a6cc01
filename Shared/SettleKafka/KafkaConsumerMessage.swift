/// A record read from a partition. All bytes are copied out of librdkafka's buffer,
/// which is destroyed as soon as the message has been polled.
public struct KafkaConsumerMessage: Sendable, Hashable {
    public var topic: String
    public var partition: Int32
    public var offset: Int64
    public var key: [UInt8]?
    public var value: [UInt8]
    public var headers: [KafkaHeader]
    /// Milliseconds since the epoch, as set by the producer or the broker; nil when absent.
    public var timestampMilliseconds: Int64?

    public var topicPartition: KafkaTopicPartition { KafkaTopicPartition(topic: topic, partition: partition) }

    public var keyString: String? { key.map { String(decoding: $0, as: UTF8.self) } }
    public var valueString: String { String(decoding: value, as: UTF8.self) }
}
