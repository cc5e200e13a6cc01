import Crdkafka
import Logging
import ServiceLifecycle
import Synchronization

/// An idempotent Kafka producer whose `send` returns once the broker has acknowledged the record.
///
/// librdkafka's delivery reports are served by a dedicated poll thread, which resumes the
/// continuation of each `send`. Run it as a `Service`: on graceful shutdown it flushes what
/// is in flight, then releases the client.
public final class KafkaProducer: Service, Sendable {
    private let handle: RDKafkaHandle
    private let context: KafkaClientContext
    private let pollThread: KafkaPollThread
    /// Guards every use of the handle against its destruction at shutdown.
    private let state = Mutex<Lifecycle>(.open)
    /// Blocking calls (flush, a metadata request) run on the poll thread, the one thread that
    /// also destroys the handle, so none can outlive it.
    private let jobs: PollThreadJobs
    private let flushTimeoutMilliseconds: Int32

    enum Lifecycle { case open, closed }

    public init(configuration: KafkaConfiguration, logger: Logger, flushTimeout: Duration = .seconds(10)) throws {
        let context = KafkaClientContext(logger: logger)
        let conf = try RDKafkaConfig.make(configuration.producerProperties)
        rd_kafka_conf_set_opaque(conf, context.opaque)
        KafkaClientContext.installLogging(on: conf)
        rd_kafka_conf_set_dr_msg_cb(conf) { _, message, opaque in
            guard let message, let opaque else { return }
            let id = UInt(bitPattern: message.pointee._private)
            let result: Result<KafkaDeliveryReport, KafkaError>
            if message.pointee.err == RD_KAFKA_RESP_ERR_NO_ERROR {
                result = .success(KafkaDeliveryReport(
                    topic: String(cString: rd_kafka_topic_name(message.pointee.rkt)),
                    partition: message.pointee.partition,
                    offset: message.pointee.offset
                ))
            } else {
                result = .failure(KafkaError(message.pointee.err))
            }
            KafkaClientContext.from(opaque).complete(id, result)
        }
        let handle = RDKafkaHandle(try RDKafkaConfig.client(type: RD_KAFKA_PRODUCER, conf: conf))
        let jobs = PollThreadJobs()
        self.jobs = jobs
        self.handle = handle
        self.context = context
        self.flushTimeoutMilliseconds = Int32(flushTimeout.components.seconds * 1000)
        // rd_kafka_poll waits on librdkafka's queue and returns as soon as a report arrives:
        // the time-out only bounds how long a stop request can go unnoticed.
        self.pollThread = KafkaPollThread(
            name: "settle-kafka-producer-poll",
            body: {
                if let job = jobs.next() {
                    job.run(handle.pointer)
                } else {
                    _ = rd_kafka_poll(handle.pointer, 100)
                }
            },
            cleanup: {
                jobs.failAll()
                // Anything still queued after the flush is purged; its reports fail the waiting sends.
                _ = rd_kafka_purge(handle.pointer, Int32(RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT))
                _ = rd_kafka_poll(handle.pointer, 0)
                handle.destroy()
                context.failAll(.shutDown)
            }
        )
    }

    /// Publishes one record and returns once the broker acknowledged it (`acks=all`).
    ///
    /// A send cannot be withdrawn once it was handed to librdkafka: cancelling the calling
    /// task does not cancel it.
    /// - Throws: `KafkaError` when the record is refused or its delivery failed for good.
    @discardableResult
    public func send(_ message: KafkaProducerMessage) async throws -> KafkaDeliveryReport {
        try await withCheckedThrowingContinuation { continuation in
            let id = context.register(continuation)
            if let error = enqueue(message, id: id) {
                context.complete(id, .failure(error))
            }
        }
    }

    /// Publishes records in the order given and returns once every one was acknowledged or
    /// failed; librdkafka keeps that order within each partition, so records of one key reach
    /// the broker in array order (the idempotent producer keeps it through retries).
    /// - Returns: each record's delivery report or error, in the order given.
    public func sendAll(_ messages: [KafkaProducerMessage]) async -> [Result<KafkaDeliveryReport, KafkaError>] {
        if messages.isEmpty { return [] }
        let batch = DeliveryBatch(count: messages.count)
        return await withCheckedContinuation { continuation in
            batch.whenComplete { continuation.resume(returning: $0) }
            // All enqueued under one lock, in order, before any other send can interleave.
            state.withLock { lifecycle in
                for (index, message) in messages.enumerated() {
                    let id = context.register { batch.record(index, $0) }
                    let refused: KafkaError? = lifecycle == .open ? produce(message, id: id) : .shutDown
                    if let refused { context.complete(id, .failure(refused)) }
                }
            }
        }
    }

    private func enqueue(_ message: KafkaProducerMessage, id: UInt) -> KafkaError? {
        state.withLock { lifecycle -> KafkaError? in
            guard lifecycle == .open else { return .shutDown }
            return produce(message, id: id)
        }
    }

    private func produce(_ message: KafkaProducerMessage, id: UInt) -> KafkaError? {
        var headers: OpaquePointer?
        if !message.headers.isEmpty {
            headers = rd_kafka_headers_new(message.headers.count)
            for header in message.headers {
                if let value = header.value {
                    value.withUnsafeBytes { bytes in
                        _ = rd_kafka_header_add(headers, header.key, -1, bytes.baseAddress, bytes.count)
                    }
                } else {
                    _ = rd_kafka_header_add(headers, header.key, -1, nil, 0)
                }
            }
        }
        let error: OpaquePointer? = message.topic.withCString { topic in
            message.value.withUnsafeBytes { value in
                withOptionalBytes(message.key) { key in
                    var fields: [rd_kafka_vu_t] = []
                    fields.reserveCapacity(7)
                    var field = rd_kafka_vu_t()
                    field.vtype = RD_KAFKA_VTYPE_TOPIC
                    field.u.cstr = topic
                    fields.append(field)
                    field = rd_kafka_vu_t()
                    field.vtype = RD_KAFKA_VTYPE_VALUE
                    field.u.mem.ptr = UnsafeMutableRawPointer(mutating: value.baseAddress)
                    field.u.mem.size = value.count
                    fields.append(field)
                    if let key {
                        field = rd_kafka_vu_t()
                        field.vtype = RD_KAFKA_VTYPE_KEY
                        field.u.mem.ptr = UnsafeMutableRawPointer(mutating: key.baseAddress)
                        field.u.mem.size = key.count
                        fields.append(field)
                    }
                    if let partition = message.partition {
                        field = rd_kafka_vu_t()
                        field.vtype = RD_KAFKA_VTYPE_PARTITION
                        field.u.i32 = partition
                        fields.append(field)
                    }
                    field = rd_kafka_vu_t()
                    field.vtype = RD_KAFKA_VTYPE_MSGFLAGS
                    field.u.i = RD_KAFKA_MSG_F_COPY
                    fields.append(field)
                    field = rd_kafka_vu_t()
                    field.vtype = RD_KAFKA_VTYPE_OPAQUE
                    field.u.ptr = UnsafeMutableRawPointer(bitPattern: id)
                    fields.append(field)
                    if let headers {
                        field = rd_kafka_vu_t()
                        field.vtype = RD_KAFKA_VTYPE_HEADERS
                        field.u.headers = headers
                        fields.append(field)
                    }
                    return rd_kafka_produceva(handle.pointer, fields, fields.count)
                }
            }
        }
        guard let error else { return nil }
        // On failure librdkafka did not take the headers.
        if let headers { rd_kafka_headers_destroy(headers) }
        return KafkaError(takingOwnershipOf: error)
    }

    /// Waits until every record handed to `send` so far is acknowledged or failed.
    public func flush(timeout: Duration = .seconds(10)) async throws {
        let milliseconds = Self.milliseconds(timeout)
        let result = await onPollThread { handle in rd_kafka_flush(handle, milliseconds) }
        if result != RD_KAFKA_RESP_ERR_NO_ERROR { throw KafkaError(result) }
    }

    /// Asks the cluster for its broker list through this producer's own connections (no client
    /// of its own, unlike `KafkaMetadata`): what a readiness probe needs.
    /// - Throws: `KafkaError` when no broker answered within `timeout`, or the producer hit a fatal error.
    public func checkBrokers(timeout: Duration = .seconds(2)) async throws {
        if let fatal = fatalError { throw fatal }
        let milliseconds = Self.milliseconds(timeout)
        let result = await onPollThread { handle -> rd_kafka_resp_err_t in
            var metadata: UnsafePointer<rd_kafka_metadata>?
            let error = rd_kafka_metadata(handle, 0, nil, &metadata, milliseconds)
            if let metadata { rd_kafka_metadata_destroy(metadata) }
            return error
        }
        if result != RD_KAFKA_RESP_ERR_NO_ERROR { throw KafkaError(result) }
    }

    /// The error that ended this producer, if one did: an idempotent producer whose sequence
    /// the broker no longer accepts (out-of-order sequence) can send nothing more, and only a
    /// new producer (a new producer id) can go on.
    public var fatalError: KafkaError? {
        state.withLock { lifecycle -> KafkaError? in
            guard lifecycle == .open else { return nil }
            var reason = [CChar](repeating: 0, count: 512)
            let code = rd_kafka_fatal_error(handle.pointer, &reason, reason.count)
            guard code != RD_KAFKA_RESP_ERR_NO_ERROR else { return nil }
            let message = String(decoding: reason.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
            return KafkaError(code: code.rawValue, message: message, isFatal: true)
        }
    }

    private static func milliseconds(_ duration: Duration) -> Int32 {
        Int32(duration.components.seconds * 1000 + duration.components.attoseconds / 1_000_000_000_000_000)
    }

    /// Runs a blocking call on the poll thread; `RD_KAFKA_RESP_ERR__DESTROY` once the producer closed.
    private func onPollThread(_ call: @escaping @Sendable (OpaquePointer) -> rd_kafka_resp_err_t) async -> rd_kafka_resp_err_t {
        await withCheckedContinuation { (continuation: CheckedContinuation<rd_kafka_resp_err_t, Never>) in
            let accepted = state.withLock { lifecycle in
                guard lifecycle == .open else { return false }
                jobs.add(PollThreadJobs.Job(run: { continuation.resume(returning: call($0)) },
                                            fail: { continuation.resume(returning: RD_KAFKA_RESP_ERR__DESTROY) }))
                return true
            }
            if !accepted { continuation.resume(returning: RD_KAFKA_RESP_ERR__DESTROY) }
        }
    }

    /// Flushes, then releases the client. Sends after this throw `KafkaError.shutDown`.
    public func shutdown() async {
        do {
            try await flush(timeout: .seconds(Int64(flushTimeoutMilliseconds / 1000)))
        } catch {
            context.logger.warning("Kafka producer flush at shutdown did not complete: \(error)")
        }
        let wasOpen = state.withLock { lifecycle in
            defer { lifecycle = .closed }
            return lifecycle == .open
        }
        guard wasOpen else { return await pollThread.join() }
        pollThread.stop()
        await pollThread.join()
    }

    public func run() async throws {
        try? await gracefulShutdown()
        await shutdown()
    }
}

private func withOptionalBytes<T>(_ bytes: [UInt8]?, _ body: (UnsafeRawBufferPointer?) -> T) -> T {
    guard let bytes else { return body(nil) }
    return bytes.withUnsafeBytes { body($0) }
}

/// Blocking calls waiting for the poll thread.
private final class PollThreadJobs: Sendable {
    struct Job: Sendable {
        var run: @Sendable (OpaquePointer) -> Void
        var fail: @Sendable () -> Void
    }

    private let queue = Mutex<[Job]>([])

    func add(_ job: Job) {
        queue.withLock { $0.append(job) }
    }

    func next() -> Job? {
        queue.withLock { $0.isEmpty ? nil : $0.removeFirst() }
    }

    /// At shutdown: calls asked for before the producer closed are answered, never left waiting.
    func failAll() {
        let all = queue.withLock { queue in
            defer { queue = [] }
            return queue
        }
        for job in all { job.fail() }
    }
}

/// The delivery reports of one `sendAll`, collected until the last one arrives.
private final class DeliveryBatch: Sendable {
    private struct State {
        var results: [Result<KafkaDeliveryReport, KafkaError>?]
        var remaining: Int
        var onComplete: (@Sendable ([Result<KafkaDeliveryReport, KafkaError>]) -> Void)?
    }

    private let state: Mutex<State>

    init(count: Int) {
        state = Mutex(State(results: Array(repeating: nil, count: count), remaining: count, onComplete: nil))
    }

    func whenComplete(_ handler: @escaping @Sendable ([Result<KafkaDeliveryReport, KafkaError>]) -> Void) {
        state.withLock { $0.onComplete = handler }
    }

    func record(_ index: Int, _ result: Result<KafkaDeliveryReport, KafkaError>) {
        let finished = state.withLock { state -> (handler: @Sendable ([Result<KafkaDeliveryReport, KafkaError>]) -> Void, results: [Result<KafkaDeliveryReport, KafkaError>])? in
            state.results[index] = result
            state.remaining -= 1
            guard state.remaining == 0, let handler = state.onComplete else { return nil }
            return (handler, state.results.map { $0! })
        }
        finished.map { $0.handler($0.results) }
    }
}
