import DequeModule
import Foundation
import Logging
import Metrics
import ServiceLifecycle
import SettleStorage
import Synchronization

/// Group commit for `POST /v1/orders`: concurrent requests wait together for a few
/// milliseconds (or until a batch is full) and are committed in one transaction, so the
/// ingest rate is not one fsync per order. Each request is answered only after its batch
/// committed (DESIGN.md contract clause 1).
///
/// `concurrency` flushers take batches from one queue, so while one batch commits the next
/// fills. One flusher at a time collects: a request arriving while a batch fills joins it
/// instead of waking another flusher to start a batch of its own. A batch never holds one
/// idempotency key twice (the later request waits for the next batch, and then finds the key
/// taken). If a batch fails for a reason other than an unavailable database, its orders are
/// retried one by one, so one bad order never fails the others.
final class OrderIngest: Service, Sendable {
    struct Settings: Sendable {
        var maxBatch: Int
        var maxWait: Duration
        var concurrency: Int
        /// How long a batch may wait to be sent before its requests are answered 503
        /// `database_unavailable` (nothing created; the batch is then never sent).
        var commitDeadline: Duration
        /// How much longer a batch already sent waits for COMMIT's answer or the connection's
        /// loss before its requests are answered 503 `outcome_unknown` (it may still commit).
        var outcomeWait: Duration = .seconds(10)
        /// How much longer a batch still unanswered after that is given before its connection
        /// is closed as silent (it then rolls back, unless its COMMIT had reached the server).
        var closeAfter: Duration = .seconds(60)
    }

    enum Outcome: Sendable {
        case committed
        /// Nothing was created: the order's idempotency key was already taken.
        case keyTaken
    }

    struct ShuttingDown: Error {}
    /// An order without a key was not created although its batch committed (a broken batch statement).
    struct KeylessOrderRefused: Error {}

    private struct Entry {
        var order: PendingOrder
        var continuation: CheckedContinuation<Outcome, any Error>
    }

    private struct State {
        var queue: Deque<Entry> = []
        /// Flushers with nothing to do; resumed with true to collect the next batch, with false
        /// to end (the service is stopping and nothing is queued).
        var idleFlushers: [CheckedContinuation<Bool, Never>] = []
        /// A flusher is letting a batch fill; new requests join it rather than wake another.
        var collecting = false
        var stopping = false

        /// The flushers to resume after the queue or `collecting` changed: an idle one becomes the
        /// collector if work waits and nobody collects; when stopping with nothing left, all of
        /// them, to end.
        mutating func wakeups() -> [(CheckedContinuation<Bool, Never>, Bool)] {
            if !queue.isEmpty, !collecting, let flusher = idleFlushers.popLast() {
                collecting = true
                return [(flusher, true)]
            }
            if stopping, queue.isEmpty {
                defer { idleFlushers.removeAll() }
                return idleFlushers.map { ($0, false) }
            }
            return []
        }

        /// Up to `max` entries in arrival order, no idempotency key twice: a repeat stays queued
        /// (in order) for a later batch, which will find the key taken.
        mutating func takeBatch(max: Int) -> [Entry] {
            var batch: [Entry] = []
            var keys: Set<[String]> = []
            var repeats: [Entry] = []
            while batch.count < max, let entry = queue.popFirst() {
                if let use = entry.order.idempotencyKey, !keys.insert([use.merchant.uuidString, use.key]).inserted {
                    repeats.append(entry)
                } else {
                    batch.append(entry)
                }
            }
            for entry in repeats.reversed() { queue.prepend(entry) }
            return batch
        }
    }

    private let writer: OrderBatchWriter
    private let settings: Settings
    private let logger: Logger
    private let state = Mutex(State())
    static let batchSizeMetric = "settle_api_order_batch_size"
    private let batchSizes = Recorder(label: OrderIngest.batchSizeMetric, aggregate: true)

    init(writer: OrderBatchWriter, settings: Settings, logger: Logger) {
        self.writer = writer
        self.settings = settings
        self.logger = logger
    }

    /// Orders waiting for a batch (a test fills one batch before the flushers start).
    var queuedCount: Int { state.withLock { $0.queue.count } }

    /// Queues an order for the next batch; returns once its batch committed.
    func submit(_ order: PendingOrder) async throws -> Outcome {
        try await withCheckedThrowingContinuation { continuation in
            let (accepted, wakeups) = state.withLock { state -> (Bool, [(CheckedContinuation<Bool, Never>, Bool)]) in
                if state.stopping { return (false, []) }
                state.queue.append(Entry(order: order, continuation: continuation))
                return (true, state.wakeups())
            }
            if !accepted { return continuation.resume(throwing: ShuttingDown()) }
            for (flusher, collect) in wakeups { flusher.resume(returning: collect) }
        }
    }

    func run() async throws {
        await withTaskCancellationHandler {
            await withGracefulShutdownHandler {
                await withDiscardingTaskGroup { group in
                    for _ in 0..<max(1, settings.concurrency) {
                        group.addTask { await self.flushLoop() }
                    }
                }
            } onGracefulShutdown: {
                self.stop()
            }
        } onCancel: {
            self.stop()
        }
    }

    /// Refuses new orders; what is queued still commits, then the flushers end. (The HTTP
    /// server stops before this service, so no request is left waiting.)
    private func stop() {
        let wakeups = state.withLock { state in
            state.stopping = true
            return state.wakeups()
        }
        for (flusher, collect) in wakeups { flusher.resume(returning: collect) }
    }

    private func flushLoop() async {
        while await becomeCollector() {
            // Let the batch fill for at most `maxWait`, unless it is already full.
            if state.withLock({ !$0.stopping && $0.queue.count < settings.maxBatch }) {
                try? await Task.sleep(for: settings.maxWait)
            }
            let (batch, wakeups) = state.withLock { state -> ([Entry], [(CheckedContinuation<Bool, Never>, Bool)]) in
                let batch = state.takeBatch(max: settings.maxBatch)
                state.collecting = false
                // What arrived meanwhile, or did not fit, is the next flusher's to collect.
                return (batch, state.wakeups())
            }
            for (flusher, collect) in wakeups { flusher.resume(returning: collect) }
            if batch.isEmpty { continue }
            batchSizes.record(batch.count)
            await commit(batch)
        }
    }

    /// Waits until this flusher is the one to collect the next batch (true), or the service
    /// stopped with nothing queued (false).
    private func becomeCollector() async -> Bool {
        await withCheckedContinuation { (continuation: CheckedContinuation<Bool, Never>) in
            let now = state.withLock { state -> Bool? in
                if !state.queue.isEmpty, !state.collecting {
                    state.collecting = true
                    return true
                }
                if state.stopping, state.queue.isEmpty { return false }
                state.idleFlushers.append(continuation)
                return nil
            }
            if let now { continuation.resume(returning: now) }
        }
    }

    private func commit(_ batch: [Entry]) async {
        do {
            let committed = try await writer.commit(batch.map(\.order), deadline: settings.commitDeadline,
                                                    outcomeWait: settings.outcomeWait, closeAfter: settings.closeAfter)
            for entry in batch {
                entry.continuation.resume(returning: committed.contains(entry.order.order.id) ? .committed : .keyTaken)
            }
        } catch let error as DatabaseUnavailable {
            for entry in batch { entry.continuation.resume(throwing: error) }
        } catch let error as OutcomeUnknown {
            logger.warning("batch outcome unknown", metadata: ["batch_size": "\(batch.count)", "error": "\(error)"])
            for entry in batch { entry.continuation.resume(throwing: error) }
        } catch {
            guard batch.count > 1 else {
                logger.error("order could not be committed", metadata: ["order_id": "\(batch[0].order.order.id)", "error": "\(error)"])
                return batch[0].continuation.resume(throwing: error)
            }
            logger.warning("batch failed; committing its orders one by one", metadata: ["batch_size": "\(batch.count)", "error": "\(error)"])
            for entry in batch { await commit([entry]) }
        }
    }
}
