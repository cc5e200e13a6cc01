/// librdkafka properties for a producer or a consumer.
///
/// The defaults encode Settle's choices; `properties` can override any of them
/// (the names are librdkafka's, see its CONFIGURATION.md).
public struct KafkaConfiguration: Sendable {
    /// Comma-separated `host:port` list.
    public var bootstrapServers: String
    public var clientID: String
    /// Extra librdkafka properties, applied last.
    public var properties: [String: String]

    public init(bootstrapServers: String, clientID: String = "settle", properties: [String: String] = [:]) {
        self.bootstrapServers = bootstrapServers
        self.clientID = clientID
        self.properties = properties
    }

    var common: [String: String] {
        [
            "bootstrap.servers": bootstrapServers,
            "client.id": clientID,
            "socket.keepalive.enable": "true",
            // Requests are small and latency matters: without TCP_NODELAY, Nagle's algorithm
            // and the peer's delayed ACK hold a request back ~40 ms whenever another is in flight.
            "socket.nagle.disable": "true",
        ]
    }

    /// Idempotent producer (DESIGN.md "The Kafka client"): no duplicates and no reordering
    /// when librdkafka retries, `acks=all`.
    var producerProperties: [String: String] {
        common.merging([
            // Keys map to partitions the way Java clients map them, so Settle and other
            // producers agree on where an order's events live.
            "partitioner": "murmur2_random",
            "enable.idempotence": "true",
            "acks": "all",
            "linger.ms": "2",
            "message.timeout.ms": "300000",
        ]) { $1 }.merging(properties) { $1 }
    }

    func consumerProperties(groupID: String) -> [String: String] {
        common.merging([
            "group.id": groupID,
            "enable.auto.commit": "false",
            "enable.auto.offset.store": "false",
            "auto.offset.reset": "earliest",
            // A killed member's partitions move on within seconds, not the 45 s default.
            "session.timeout.ms": "6000",
            "heartbeat.interval.ms": "500",
            "enable.partition.eof": "false",
            // A fetch the broker holds for want of data returns within 25 ms, not librdkafka's
            // 500 ms: an event otherwise waits up to that long at each hop (orders.v1 to the
            // worker, payments.v1 to the dispatcher) whenever traffic is light.
            "fetch.wait.max.ms": "25",
        ]) { $1 }.merging(properties) { $1 }
    }
}
