import Crdkafka
import Dispatch
import Logging
import Synchronization

/// What librdkafka's C callbacks reach through their `opaque` pointer.
///
/// It is retained by the Swift client for the handle's whole life, so the unretained
/// pointer handed to librdkafka stays valid until `rd_kafka_destroy` has returned.
final class KafkaClientContext: Sendable {
    let logger: Logger
    /// Set for consumers: the state their rebalance callback works on.
    let consumer: KafkaConsumerState?
    let drainTimeout: Duration
    private let nextID = Atomic<UInt>(1)
    /// What to do with each record's delivery report, by the id passed to librdkafka as opaque.
    private let pending = Mutex<[UInt: @Sendable (Result<KafkaDeliveryReport, KafkaError>) -> Void]>([:])

    init(logger: Logger, consumer: KafkaConsumerState? = nil, drainTimeout: Duration = .seconds(10)) {
        self.logger = logger
        self.consumer = consumer
        self.drainTimeout = drainTimeout
    }

    var opaque: UnsafeMutableRawPointer { Unmanaged.passUnretained(self).toOpaque() }

    static func from(_ opaque: UnsafeMutableRawPointer) -> KafkaClientContext {
        Unmanaged<KafkaClientContext>.fromOpaque(opaque).takeUnretainedValue()
    }

    func register(_ continuation: CheckedContinuation<KafkaDeliveryReport, any Error>) -> UInt {
        register { continuation.resume(with: $0.mapError { $0 as any Error }) }
    }

    /// Registers a handler of one delivery report; it runs exactly once.
    func register(_ handler: @escaping @Sendable (Result<KafkaDeliveryReport, KafkaError>) -> Void) -> UInt {
        let id = nextID.wrappingAdd(1, ordering: .relaxed).oldValue
        pending.withLock { $0[id] = handler }
        return id
    }

    func complete(_ id: UInt, _ result: Result<KafkaDeliveryReport, KafkaError>) {
        let handler = pending.withLock { $0.removeValue(forKey: id) }
        handler?(result)
    }

    func failAll(_ error: KafkaError) {
        let all = pending.withLock { pending in
            defer { pending = [:] }
            return pending
        }
        for handler in all.values { handler(.failure(error)) }
    }

    /// Routes librdkafka's log lines into swift-log instead of raw stderr.
    static func installLogging(on conf: OpaquePointer) {
        rd_kafka_conf_set_log_cb(conf) { handle, level, facility, buffer in
            guard let handle, let opaque = rd_kafka_opaque(handle) else { return }
            let context = KafkaClientContext.from(opaque)
            let text = buffer.map { String(cString: $0) } ?? ""
            let source = facility.map { String(cString: $0) } ?? "rdkafka"
            // syslog levels: 0-3 error, 4 warning, 5-6 info/notice, 7 debug.
            let swiftLevel: Logger.Level = level <= 3 ? .error : level == 4 ? .warning : level <= 6 ? .info : .debug
            context.logger.log(level: swiftLevel, "\(text)", metadata: ["rdkafka.facility": "\(source)"])
        }
        rd_kafka_conf_set_error_cb(conf) { handle, error, reason, _ in
            guard let handle, let opaque = rd_kafka_opaque(handle) else { return }
            let context = KafkaClientContext.from(opaque)
            let text = reason.map { String(cString: $0) } ?? ""
            let code = rd_kafka_resp_err_t(rawValue: error)
            // Transport errors (a broker going away) are expected and retried by librdkafka.
            let level: Logger.Level = code == RD_KAFKA_RESP_ERR__FATAL ? .critical : .warning
            context.logger.log(level: level, "Kafka client error: \(text)", metadata: ["kafka.error_code": "\(error)"])
        }
    }
}

extension KafkaClientContext {
    /// Serves a rebalance on the consumer's poll thread (librdkafka calls it from `rd_kafka_consumer_poll`).
    func rebalance(
        _ handle: OpaquePointer,
        _ error: rd_kafka_resp_err_t,
        _ list: UnsafeMutablePointer<rd_kafka_topic_partition_list_t>
    ) {
        guard let state = consumer else { return }
        let partitions = RDKafkaTopicPartitionList.read(list).map(\.0)
        let cooperative = String(cString: rd_kafka_rebalance_protocol(handle)) == "COOPERATIVE"
        switch error {
        case RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS:
            state.assign(partitions)
            if cooperative {
                if let failure = rd_kafka_incremental_assign(handle, list) {
                    logger.error("Kafka incremental assign failed: \(KafkaError(takingOwnershipOf: failure))")
                }
            } else {
                _ = rd_kafka_assign(handle, list)
            }
            logger.notice("Kafka partitions assigned", metadata: ["kafka.partitions": "\(partitions.count)"])
        case RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS:
            let paused = state.beginRevoke(partitions)
            if !paused.isEmpty {
                _ = RDKafkaTopicPartitionList.withList(paused.map { ($0, Int64(RD_KAFKA_OFFSET_INVALID)) }) {
                    rd_kafka_resume_partitions(handle, $0)
                }
            }
            // Give handed-out messages a bounded chance to be committed, so the next owner does not
            // handle them again. This thread is ours: waiting here blocks no Swift task.
            let deadline = DispatchTime.now() + .nanoseconds(Int(drainTimeout.components.seconds) * 1_000_000_000)
            while !state.inFlight(partitions).isEmpty, DispatchTime.now() < deadline {
                _ = state.commitProgress.wait(timeout: .now() + .milliseconds(50))
            }
            let unfinished = state.inFlight(partitions)
            if !unfinished.isEmpty {
                logger.warning("Kafka partitions revoked with uncommitted messages; the next owner reads them again",
                               metadata: ["kafka.partitions": "\(unfinished)"])
            }
            if cooperative {
                if let failure = rd_kafka_incremental_unassign(handle, list) {
                    logger.error("Kafka incremental unassign failed: \(KafkaError(takingOwnershipOf: failure))")
                }
            } else {
                _ = rd_kafka_assign(handle, nil)
            }
            state.endRevoke(partitions)
            logger.notice("Kafka partitions revoked", metadata: ["kafka.partitions": "\(partitions.count)"])
        default:
            logger.error("Kafka rebalance failed: \(KafkaError(error))")
            _ = rd_kafka_assign(handle, nil)
        }
    }
}
