import Foundation
import Logging
import Metrics
import ServiceLifecycle
import SettleKafka
import SettleRuntime
import SettleStorage
import Synchronization

/// Reads `payments.v1` as a member of the `settle-dispatcher` group and, for each event, writes
/// a delivery per subscribed endpoint (`WebhookDeliveryStore.fanOut`) before its offset is
/// committed: a crash in between repeats the fan-out, which writes nothing twice. A message that
/// names no event of Settle's is logged, counted and skipped; a database that cannot be
/// reached is waited for, never skipped.
final class EventFanOut: Service, Sendable {
    private let consumer: KafkaConsumer
    private let store: WebhookDeliveryStore
    private let doorbell: Doorbell
    private let logger: Logger
    private let backoff = Backoff(base: .milliseconds(100), cap: .seconds(5))
    private let commitInterval = Duration.milliseconds(200)
    /// The last handled message of each partition, not committed yet.
    private let handled = Mutex<[KafkaTopicPartition: KafkaConsumerMessage]>([:])

    init(consumer: KafkaConsumer, store: WebhookDeliveryStore, doorbell: Doorbell, logger: Logger) {
        self.consumer = consumer
        self.store = store
        self.doorbell = doorbell
        self.logger = logger
    }

    func run() async throws {
        await withDiscardingTaskGroup { group in
            group.addTask {
                while true {
                    do { try await Task.sleep(for: self.commitInterval) } catch { return }
                    await self.commitHandled()
                }
            }
            await cancelWhenGracefulShutdown {
                for await message in self.consumer.messages {
                    await self.handle(message)
                }
            }
            group.cancelAll()
        }
        await commitHandled()  // what was handled is committed before the consumer leaves the group
    }

    /// Commits the offset after the last handled message of each partition (offsets are
    /// cumulative). Offsets are committed in the background, every `commitInterval`, not one
    /// awaited round trip per message, which held the fan-out to the broker's commit latency;
    /// a crash loses at most the last interval's commits, and those messages are fanned out
    /// again, which writes nothing twice.
    private func commitHandled() async {
        let latest = handled.withLock { handled in
            defer { handled = [:] }
            return handled
        }
        for message in latest.values {
            do {
                try await consumer.commit(message)
            } catch {
                logger.warning("offset not committed; messages may be handled again", metadata: [
                    "kafka.topic": "\(message.topic)", "kafka.partition": "\(message.partition)", "kafka.offset": "\(message.offset)",
                    "error": "\(error)",
                ])
            }
        }
    }

    private func handle(_ message: KafkaConsumerMessage) async {
        Counter(label: "settle_dispatcher_messages_total").increment()
        let metadata: Logger.Metadata = [
            "kafka.topic": "\(message.topic)", "kafka.partition": "\(message.partition)", "kafka.offset": "\(message.offset)",
            "event_id": "\(message.headers.first(named: "event-id") ?? "")",
        ]
        if let eventID = message.headers.first(named: "event-id").flatMap(UUID.init(uuidString:)) {
            var attempt = 0
            while !Task.isCancelled {
                do {
                    if let written = try await store.fanOut(eventID: eventID, traceparent: message.headers.first(named: SettleTracing.header)) {
                        Counter(label: "settle_webhook_deliveries_created_total").increment(by: written)
                        if written > 0 { doorbell.ring() }  // due now: the sender need not wait for its poll
                    } else {
                        Counter(label: "settle_dispatcher_messages_skipped_total", dimensions: [("reason", "unknown_event")]).increment()
                        logger.error("message names no event of Settle's; skipped", metadata: metadata)
                    }
                    break
                } catch {
                    Counter(label: "settle_dispatcher_fan_out_failures_total").increment()
                    if attempt % 10 == 0 {
                        logger.warning("cannot write deliveries; retrying", metadata: metadata.merging(["error": "\(String(reflecting: error))"]) { $1 })
                    }
                    try? await Task.sleep(for: backoff.delay(attempt: attempt))
                    attempt += 1
                }
            }
            if Task.isCancelled { return }  // not handled: not committed, read again by the next member
        } else {
            Counter(label: "settle_dispatcher_messages_skipped_total", dimensions: [("reason", "no_event_id")]).increment()
            logger.error("message without an event-id header; skipped", metadata: metadata)
        }
        handled.withLock { $0[message.topicPartition] = message }
    }
}
