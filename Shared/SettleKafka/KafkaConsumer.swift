import Crdkafka
import Dispatch
import Logging
import ServiceLifecycle

/// A Kafka consumer-group member.
///
/// Messages arrive through `messages`, an `AsyncSequence`; the application calls `commit(_:)`
/// after it has handled one (offsets are never committed automatically). A dedicated thread
/// runs `rd_kafka_consumer_poll` and serves rebalances; a second one serves commit results.
/// On revocation, buffered messages of the revoked partitions are dropped and the consumer
/// waits (bounded) for the ones already handed out to be committed before it lets go of them.
/// On graceful shutdown it commits nothing new, leaves the group (so partitions move at once,
/// not after the session time-out) and releases the client.
public final class KafkaConsumer: Service, Sendable {
    private let handle: RDKafkaHandle
    private let commitQueue: RDKafkaQueue
    private let context: KafkaClientContext
    private let state: KafkaConsumerState
    private let pollThread: KafkaPollThread
    private let commitThread: KafkaPollThread
    public let messages: KafkaConsumerMessages

    /// - Parameters:
    ///   - groupID: The consumer group.
    ///   - topics: Topics to subscribe to.
    ///   - bufferCapacity: How many fetched messages may wait for the application.
    ///   - revocationDrainTimeout: How long a revocation waits for handed-out messages to be committed.
    public init(
        configuration: KafkaConfiguration,
        groupID: String,
        topics: [String],
        logger: Logger,
        bufferCapacity: Int = 1_000,
        revocationDrainTimeout: Duration = .seconds(10)
    ) throws {
        let state = KafkaConsumerState(capacity: bufferCapacity)
        let context = KafkaClientContext(logger: logger, consumer: state, drainTimeout: revocationDrainTimeout)
        let conf = try RDKafkaConfig.make(configuration.consumerProperties(groupID: groupID))
        rd_kafka_conf_set_opaque(conf, context.opaque)
        KafkaClientContext.installLogging(on: conf)
        rd_kafka_conf_set_rebalance_cb(conf) { handle, error, partitions, opaque in
            guard let handle, let partitions, let opaque else { return }
            KafkaClientContext.from(opaque).rebalance(handle, error, partitions)
        }
        let handle = RDKafkaHandle(try RDKafkaConfig.client(type: RD_KAFKA_CONSUMER, conf: conf))
        rd_kafka_poll_set_consumer(handle.pointer)
        let subscribeError: rd_kafka_resp_err_t = RDKafkaTopicPartitionList.withList(
            topics.map { (KafkaTopicPartition(topic: $0, partition: RD_KAFKA_PARTITION_UA), Int64(RD_KAFKA_OFFSET_INVALID)) }
        ) { rd_kafka_subscribe(handle.pointer, $0) }
        if subscribeError != RD_KAFKA_RESP_ERR_NO_ERROR {
            handle.destroy()
            throw KafkaError(subscribeError)
        }
        let commitQueue = RDKafkaQueue(rd_kafka_queue_new(handle.pointer))
        self.handle = handle
        self.commitQueue = commitQueue
        self.context = context
        self.state = state
        self.messages = KafkaConsumerMessages(state: state)

        let commitThread = KafkaPollThread(
            name: "settle-kafka-commit",
            body: { KafkaConsumer.serveCommitResults(commitQueue, state) },
            cleanup: {
                // Runs after the poll thread closed the consumer: nothing else touches the handle now.
                state.storage.withLock { $0.lifecycle = .closed }
                rd_kafka_queue_destroy(commitQueue.pointer)
                handle.destroy()
                // librdkafka held an unretained pointer to the context until the handle was destroyed.
                withExtendedLifetime(context) {}
                state.failAllCommits(.shutDown)
                state.finish()
            }
        )
        self.commitThread = commitThread
        self.pollThread = KafkaPollThread(
            name: "settle-kafka-consumer-poll",
            body: { KafkaConsumer.pollOnce(handle, state, logger) },
            cleanup: {
                // Leaves the group; the revocation it triggers is served here, while commits still work.
                let error = rd_kafka_consumer_close(handle.pointer)
                if error != RD_KAFKA_RESP_ERR_NO_ERROR {
                    logger.warning("Kafka consumer close: \(KafkaError(error))")
                }
                commitThread.stop()
            }
        )
    }

    private static func pollOnce(_ handle: RDKafkaHandle, _ state: KafkaConsumerState, _ logger: Logger) {
        if state.isFull {
            // Back-pressure: wait (on this dedicated thread) until the application catches up.
            _ = state.spaceAvailable.wait(timeout: .now() + .milliseconds(100))
            return
        }
        guard let message = rd_kafka_consumer_poll(handle.pointer, 100) else { return }
        defer { rd_kafka_message_destroy(message) }
        let error = message.pointee.err
        guard error == RD_KAFKA_RESP_ERR_NO_ERROR else {
            if error != RD_KAFKA_RESP_ERR__PARTITION_EOF {
                logger.warning("Kafka consumer: \(KafkaError(error))")
            }
            return
        }
        state.append(KafkaConsumerMessage(copying: message))
    }

    private static func serveCommitResults(_ queue: RDKafkaQueue, _ state: KafkaConsumerState) {
        guard let event = rd_kafka_queue_poll(queue.pointer, 100) else { return }
        defer { rd_kafka_event_destroy(event) }
        guard rd_kafka_event_type(event) == RD_KAFKA_EVENT_OFFSET_COMMIT else { return }
        let id = UInt(bitPattern: rd_kafka_event_opaque(event))
        var error = rd_kafka_event_error(event)
        if error == RD_KAFKA_RESP_ERR_NO_ERROR, let offsets = rd_kafka_event_topic_partition_list(event) {
            for index in 0..<Int(offsets.pointee.cnt) where offsets.pointee.elems[index].err != RD_KAFKA_RESP_ERR_NO_ERROR {
                error = offsets.pointee.elems[index].err
            }
        }
        state.completeCommit(id, error == RD_KAFKA_RESP_ERR_NO_ERROR ? .success(()) : .failure(KafkaError(error)))
    }

    /// Commits the offset after `message` for its partition and returns once the broker stored it.
    ///
    /// Offsets are cumulative: committing a message commits every earlier one of its partition.
    /// - Throws: `KafkaError` when the broker refused the commit (for example after the
    ///   partition was reassigned) or the consumer has shut down.
    public func commit(_ message: KafkaConsumerMessage) async throws {
        let entries = [message.topicPartition: message.offset + 1]
        let handle = self.handle
        let commitQueue = self.commitQueue
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
            let outcome: (UInt, rd_kafka_resp_err_t)? = state.storage.withLock { storage in
                guard storage.lifecycle == .open else { return nil }
                let id = storage.nextCommitID
                storage.nextCommitID += 1
                storage.commits[id] = (entries, continuation)
                let error = RDKafkaTopicPartitionList.withList(entries.map { ($0.key, $0.value) }) { list in
                    rd_kafka_commit_queue(handle.pointer, list, commitQueue.pointer, nil, UnsafeMutableRawPointer(bitPattern: id))
                }
                return (id, error)
            }
            guard let (id, error) = outcome else {
                return continuation.resume(throwing: KafkaError.shutDown)
            }
            if error != RD_KAFKA_RESP_ERR_NO_ERROR {
                state.completeCommit(id, .failure(KafkaError(error)))
            }
        }
    }

    /// Stops fetching from a partition. Messages of it not yet handed out are dropped and
    /// will be read again after `resume(_:)`.
    public func pause(_ partition: KafkaTopicPartition) {
        let handle = self.handle
        state.storage.withLock { storage in
            guard storage.lifecycle == .open, storage.assigned.contains(partition), storage.paused[partition] == nil else { return }
            let firstDropped = storage.buffer.first { $0.topicPartition == partition }?.offset
            storage.buffer.removeAll { $0.topicPartition == partition }
            let resumeAt: Int64? = firstDropped ?? storage.delivered[partition].map { $0 + 1 }
            storage.paused[partition] = .some(resumeAt)
            _ = RDKafkaTopicPartitionList.withList([(partition, Int64(RD_KAFKA_OFFSET_INVALID))]) {
                rd_kafka_pause_partitions(handle.pointer, $0)
            }
        }
    }

    /// Fetches from a paused partition again, starting with the first message not handed out.
    public func resume(_ partition: KafkaTopicPartition) {
        let handle = self.handle
        state.storage.withLock { storage in
            guard storage.lifecycle == .open, let resumeAt = storage.paused.removeValue(forKey: partition) else { return }
            if let offset = resumeAt {
                RDKafkaTopicPartitionList.withList([(partition, offset)]) { list in
                    // A time-out of 0 starts the seek without waiting for the fetcher.
                    if let error = rd_kafka_seek_partitions(handle.pointer, list, 0) { rd_kafka_error_destroy(error) }
                }
            }
            _ = RDKafkaTopicPartitionList.withList([(partition, Int64(RD_KAFKA_OFFSET_INVALID))]) {
                rd_kafka_resume_partitions(handle.pointer, $0)
            }
        }
    }

    /// Stops fetching from a partition and takes back the messages handed out from `offset` on:
    /// they will not be committed by this member, and `resume(_:)` fetches again from `offset`.
    /// A revocation does not wait for them. For a message that is not due yet (a retry topic's
    /// head): the partition waits without holding anything and the other partitions go on.
    public func pause(_ partition: KafkaTopicPartition, rewindingTo offset: Int64) {
        let handle = self.handle
        state.storage.withLock { storage in
            guard storage.lifecycle == .open, storage.assigned.contains(partition) else { return }
            storage.buffer.removeAll { $0.topicPartition == partition }
            storage.takeBack(partition, from: offset)
            let alreadyPaused = storage.paused[partition] != nil
            storage.paused[partition] = .some(offset)
            guard !alreadyPaused else { return }
            _ = RDKafkaTopicPartitionList.withList([(partition, Int64(RD_KAFKA_OFFSET_INVALID))]) {
                rd_kafka_pause_partitions(handle.pointer, $0)
            }
        }
        state.commitProgress.signal()
    }

    /// Gives up messages handed out from `offset` on, for a partition this member no longer owns
    /// or is leaving: they will not be committed here, so a revocation or shutdown waiting for
    /// handed-out messages stops waiting for them, and the next owner reads them from the
    /// committed offset.
    public func abandon(_ partition: KafkaTopicPartition, from offset: Int64) {
        state.storage.withLock { $0.takeBack(partition, from: offset) }
        state.commitProgress.signal()
    }

    /// Messages not yet committed behind the end of each owned partition: the high watermark of
    /// the last fetch minus the offset committed in this session or, before the first commit,
    /// minus the fetch position. Partitions whose figures are not known yet are left out. Reads
    /// librdkafka's cached figures only, never asks the broker.
    public func lag() -> [KafkaTopicPartition: Int64] {
        let handle = self.handle
        return state.storage.withLock { storage in
            guard storage.lifecycle == .open else { return [:] }
            var lag: [KafkaTopicPartition: Int64] = [:]
            for partition in storage.assigned {
                var low: Int64 = -1, high: Int64 = -1
                let error = rd_kafka_get_watermark_offsets(handle.pointer, partition.topic, partition.partition, &low, &high)
                guard error == RD_KAFKA_RESP_ERR_NO_ERROR, high >= 0 else { continue }
                let position: Int64
                if let committed = storage.committed[partition] {
                    position = committed + 1
                } else {
                    let current = RDKafkaTopicPartitionList.withList([(partition, Int64(RD_KAFKA_OFFSET_INVALID))]) { list -> Int64 in
                        _ = rd_kafka_position(handle.pointer, list)
                        return list.pointee.elems[0].offset
                    }
                    guard current >= 0 else { continue }
                    position = current
                }
                lag[partition] = max(0, high - position)
            }
            return lag
        }
    }

    /// The partitions this member owns right now.
    public var assignment: Set<KafkaTopicPartition> { state.assignment }

    /// Leaves the group and releases the client; `messages` ends.
    public func shutdown() async {
        state.storage.withLock { $0.finished = true }
        state.finish()
        pollThread.stop()
        await commitThread.join()
    }

    public func run() async throws {
        try? await gracefulShutdown()
        await shutdown()
    }
}

/// The messages of a `KafkaConsumer`. Iterate it from one task.
public struct KafkaConsumerMessages: AsyncSequence, Sendable {
    public typealias Element = KafkaConsumerMessage
    let state: KafkaConsumerState

    public struct AsyncIterator: AsyncIteratorProtocol {
        let state: KafkaConsumerState
        public mutating func next() async -> KafkaConsumerMessage? {
            await state.next()
        }
    }

    public func makeAsyncIterator() -> AsyncIterator {
        AsyncIterator(state: state)
    }
}

extension KafkaConsumerMessage {
    init(copying message: UnsafeMutablePointer<rd_kafka_message_t>) {
        let raw = message.pointee
        var headers: [KafkaHeader] = []
        var headerList: OpaquePointer?
        if rd_kafka_message_headers(message, &headerList) == RD_KAFKA_RESP_ERR_NO_ERROR, let headerList {
            var index = 0
            var name: UnsafePointer<CChar>?
            var value: UnsafeRawPointer?
            var size = 0
            while rd_kafka_header_get_all(headerList, index, &name, &value, &size) == RD_KAFKA_RESP_ERR_NO_ERROR {
                let bytes = value.map { Array(UnsafeRawBufferPointer(start: $0, count: size)) }
                headers.append(KafkaHeader(key: name.map { String(cString: $0) } ?? "", value: bytes))
                index += 1
            }
        }
        var timestampType = RD_KAFKA_TIMESTAMP_NOT_AVAILABLE
        let timestamp = rd_kafka_message_timestamp(message, &timestampType)
        self.init(
            topic: String(cString: rd_kafka_topic_name(raw.rkt)),
            partition: raw.partition,
            offset: raw.offset,
            key: raw.key.map { Array(UnsafeRawBufferPointer(start: $0, count: raw.key_len)) },
            value: raw.payload.map { Array(UnsafeRawBufferPointer(start: $0, count: raw.len)) } ?? [],
            headers: headers,
            timestampMilliseconds: timestampType == RD_KAFKA_TIMESTAMP_NOT_AVAILABLE ? nil : timestamp
        )
    }
}
