import Crdkafka
import Synchronization

/// librdkafka's in-memory mock cluster: a Kafka-protocol broker set reachable over TCP,
/// with hooks to take brokers down, inject request errors and add latency.
///
/// It backs `settle broker`, the development broker. State lives in memory only.
public final class KafkaMockCluster: Sendable {
    private let host: RDKafkaHandle
    private let cluster: MockClusterPointer
    /// Serialises fault injection; the mock cluster's own thread does the protocol work.
    private let lock = Mutex(())
    public let bootstrapServers: String
    public let brokerCount: Int
    private let socketTuner: MockSocketTuner

    /// `@unchecked Sendable`: the mock cluster's API is thread-safe (it posts operations to
    /// the cluster's own thread) and the pointer never changes.
    private final class MockClusterPointer: @unchecked Sendable {
        let pointer: OpaquePointer
        init(_ pointer: OpaquePointer) { self.pointer = pointer }
    }

    public init(brokers: Int) throws {
        // The mock cluster needs a client handle to live in; it is never used to produce.
        let conf = try RDKafkaConfig.make(["log_level": "3"])
        let host = RDKafkaHandle(try RDKafkaConfig.client(type: RD_KAFKA_PRODUCER, conf: conf))
        guard let cluster = rd_kafka_mock_cluster_new(host.pointer, Int32(brokers)) else {
            host.destroy()
            throw KafkaError.client("cannot start the mock cluster")
        }
        self.host = host
        self.cluster = MockClusterPointer(cluster)
        self.bootstrapServers = String(cString: rd_kafka_mock_cluster_bootstraps(cluster))
        self.brokerCount = brokers
        self.socketTuner = MockSocketTuner()
    }

    /// Creates a topic (an existing one is left as it is).
    public func createTopic(_ name: String, partitions: Int, replicationFactor: Int? = nil) throws(KafkaError) {
        let replicas = Int32(replicationFactor ?? min(3, brokerCount))
        let error = lock.withLock { _ in rd_kafka_mock_topic_create(cluster.pointer, name, Int32(partitions), replicas) }
        if error != RD_KAFKA_RESP_ERR_NO_ERROR && error != RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS {
            throw KafkaError(error)
        }
    }

    /// Takes a broker off the network: its connections are closed and new ones refused.
    public func setBrokerDown(_ brokerID: Int32) throws(KafkaError) {
        try check(lock.withLock { _ in rd_kafka_mock_broker_set_down(cluster.pointer, brokerID) })
    }

    public func setBrokerUp(_ brokerID: Int32) throws(KafkaError) {
        try check(lock.withLock { _ in rd_kafka_mock_broker_set_up(cluster.pointer, brokerID) })
    }

    /// Adds round-trip latency to every response of a broker.
    public func setRoundTripTime(_ brokerID: Int32, milliseconds: Int32) throws(KafkaError) {
        try check(lock.withLock { _ in rd_kafka_mock_broker_set_rtt(cluster.pointer, brokerID, milliseconds) })
    }

    /// The next requests of a Kafka API (for example 0 = Produce, 1 = Fetch, 8 = OffsetCommit)
    /// fail with these error codes, one request each, in order.
    public func pushRequestErrors(apiKey: Int16, errors: [Int32]) {
        let codes = errors.map { rd_kafka_resp_err_t(rawValue: $0) }
        lock.withLock { _ in
            codes.withUnsafeBufferPointer { buffer in
                rd_kafka_mock_push_request_errors_array(cluster.pointer, apiKey, buffer.count, buffer.baseAddress)
            }
        }
    }

    public func clearRequestErrors(apiKey: Int16) {
        lock.withLock { _ in rd_kafka_mock_clear_request_errors(cluster.pointer, apiKey) }
    }

    /// Stops the brokers and frees the cluster. Call once, when nothing uses it any more.
    public func destroy() {
        socketTuner.stop()
        rd_kafka_mock_cluster_destroy(cluster.pointer)
        host.destroy()
    }

    private func check(_ error: rd_kafka_resp_err_t) throws(KafkaError) {
        if error != RD_KAFKA_RESP_ERR_NO_ERROR { throw KafkaError(error) }
    }
}
