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
/// fills. If a batch fails for a reason other than an unavailable database, its orders are
/// retried one by one, so one bad order never fails the others.
final class OrderIngest: Service, Sendable {
    struct Settings: Sendable {
        var maxBatch: Int
        var maxWait: Duration
        var concurrency: Int
        /// How long a batch may take before its requests are answered 503.
        var commitDeadline: Duration
    }

    enum Outcome: Sendable {
        case committed
        /// The request's idempotency claim was taken over (it ran past the lock time-out).
        case claimLost
    }

    struct ShuttingDown: Error {}

    private struct Entry {
        var order: PendingOrder
        var continuation: CheckedContinuation<Outcome, any Error>
    }

    private struct State {
        var queue: Deque<Entry> = []
        var idleFlushers: [CheckedContinuation<Void, Never>] = []
        var stopping = false
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

    /// Queues an order for the next batch; returns once its batch committed.
    func submit(_ order: PendingOrder) async throws -> Outcome {
        try await withCheckedThrowingContinuation { continuation in
            let (accepted, flusher) = state.withLock { state -> (Bool, CheckedContinuation<Void, Never>?) in
                if state.stopping { return (false, nil) }
                state.queue.append(Entry(order: order, continuation: continuation))
                return (true, state.idleFlushers.popLast())
            }
            if !accepted { return continuation.resume(throwing: ShuttingDown()) }
            flusher?.resume()
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
        let idle = state.withLock { state in
            state.stopping = true
            defer { state.idleFlushers.removeAll() }
            return state.idleFlushers
        }
        for flusher in idle { flusher.resume() }
    }

    private func flushLoop() async {
        while true {
            await waitForWork()
            let (empty, stopping) = state.withLock { ($0.queue.isEmpty, $0.stopping) }
            if empty {
                if stopping { return }
                continue  // another flusher took the work
            }
            // Let the batch fill for at most `maxWait`, unless it is already full.
            if !stopping, state.withLock({ $0.queue.count < settings.maxBatch }) {
                try? await Task.sleep(for: settings.maxWait)
            }
            let batch = state.withLock { state -> [Entry] in
                var batch: [Entry] = []
                while batch.count < settings.maxBatch, let entry = state.queue.popFirst() { batch.append(entry) }
                return batch
            }
            if batch.isEmpty { continue }
            batchSizes.record(batch.count)
            await commit(batch)
        }
    }

    /// Returns when there is something queued or the service is stopping.
    private func waitForWork() async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let now = state.withLock { state -> Bool in
                if !state.queue.isEmpty || state.stopping { return true }
                state.idleFlushers.append(continuation)
                return false
            }
            if now { continuation.resume() }
        }
    }

    private func commit(_ batch: [Entry]) async {
        let writer = self.writer
        let orders = batch.map(\.order)
        do {
            let committed = try await DatabaseUnavailable.guarding(deadline: settings.commitDeadline) {
                try await writer.commit(orders)
            }
            for entry in batch {
                entry.continuation.resume(returning: committed.contains(entry.order.order.id) ? .committed : .claimLost)
            }
        } catch let error as DatabaseUnavailable {
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
