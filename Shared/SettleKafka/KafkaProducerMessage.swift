/// A record to publish. Without an explicit partition the key chooses it (murmur2, as Java clients do).
public struct KafkaProducerMessage: Sendable {
    public var topic: String
    public var partition: Int32?
    public var key: [UInt8]?
    public var value: [UInt8]
    public var headers: [KafkaHeader]

    public init(topic: String, partition: Int32? = nil, key: [UInt8]?, value: [UInt8], headers: [KafkaHeader] = []) {
        self.topic = topic
        self.partition = partition
        self.key = key
        self.value = value
        self.headers = headers
    }

    public init(topic: String, key: String, value: String, headers: [KafkaHeader] = []) {
        self.init(topic: topic, key: Array(key.utf8), value: Array(value.utf8), headers: headers)
    }
}
