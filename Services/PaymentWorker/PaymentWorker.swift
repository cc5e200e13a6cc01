import Logging
import Metrics
import ServiceLifecycle
import SettleKafka
import SettleRuntime
import SettleStorage
import Synchronization

/// `settle-worker`'s consumer loop: reads `orders.v1` and its retry topics as a member of the
/// `settle-worker` group and gives each partition's messages to a lane of its own, so partitions
/// are handled concurrently and each one in order.
///
/// On graceful shutdown it stops reading, lets every lane finish the message in hand and gives
/// the rest back unhandled; the consumer, stopped after it, then leaves the group at once.
final class PaymentWorker: Service, Sendable {
    private let consumer: KafkaConsumer
    private let pipeline: MessageHandler
    private let topics: WorkerTopics
    private let deadLetters: DeadLetterStore
    private let backoff: Backoff
    private let longestDelay: Duration
    private let logger: Logger
    private let stopping = Atomic<Bool>(false)

    init(consumer: KafkaConsumer, pipeline: @escaping MessageHandler, topics: WorkerTopics, deadLetters: DeadLetterStore,
         backoff: Backoff, longestDelay: Duration, logger: Logger) {
        self.longestDelay = longestDelay
        self.consumer = consumer
        self.pipeline = pipeline
        self.topics = topics
        self.deadLetters = deadLetters
        self.backoff = backoff
        self.logger = logger
    }

    private var isStopping: Bool { stopping.load(ordering: .relaxed) }

    func run() async throws {
        await withGracefulShutdownHandler {
            await withDiscardingTaskGroup { group in
                let (messages, bridge) = AsyncStream.makeStream(of: KafkaConsumerMessage.self)
                group.addTask { [consumer] in
                    // Reading ends at graceful shutdown (a cancelled `next()` returns nil).
                    await cancelWhenGracefulShutdown {
                        for await message in consumer.messages { bridge.yield(message) }
                    }
                    bridge.finish()
                }
                group.addTask { await self.reportGauges() }
                var lanes: [KafkaTopicPartition: PartitionLane] = [:]
                for await message in messages {
                    let partition = message.topicPartition
                    let lane: PartitionLane
                    if let existing = lanes[partition] {
                        lane = existing
                    } else {
                        lane = PartitionLane(partition: partition, delayed: topics.tier(of: partition.topic) > 0,
                                             longestDelay: longestDelay, consumer: consumer, pipeline: pipeline, backoff: backoff,
                                             logger: logger, isStopping: { [weak self] in self?.isStopping ?? true })
                        lanes[partition] = lane
                        group.addTask { await lane.run() }
                    }
                    lane.submit(message)
                }
                for lane in lanes.values { lane.finish() }
            }
        } onGracefulShutdown: {
            self.stopping.store(true, ordering: .relaxed)
        }
    }

    /// Consumer lag per partition and dead-letter depth per topic, every few seconds.
    private func reportGauges() async {
        var reported: Set<KafkaTopicPartition> = []
        while !isStopping {
            let lags = consumer.lag()
            // A partition that moved to another member reads 0 here, so the group's sum stays true.
            for partition in reported.union(lags.keys) {
                Gauge(label: "settle_worker_consumer_lag", dimensions: [
                    ("topic", partition.topic), ("partition", String(partition.partition)),
                ]).record(lags[partition] ?? 0)
            }
            reported.formUnion(lags.keys)
            if let depth = try? await deadLetters.depth() {
                Gauge(label: "settle_dlq_depth", dimensions: [("topic", topics.deadLetter)]).record(depth[topics.deadLetter] ?? 0)
            }
            // Shutting down or cancelled: stop here, or this loop would spin without its sleep.
            do { try await cancelWhenGracefulShutdown { try await Task.sleep(for: .seconds(5)) } } catch { return }
        }
    }
}
