import Foundation
import Logging
import ServiceLifecycle
import SettleKafka
import SettleRuntime
import Synchronization

/// Handles one partition's messages in order, one at a time, while other partitions' lanes run
/// concurrently (DESIGN.md contract clause 6).
///
/// A message is committed only after it was handled: the outcome recorded, or the message handed
/// on to a retry or dead-letter topic. A retry topic's head that is not due yet pauses this
/// partition alone: the message is given back to the consumer (so a revocation does not wait
/// for it) and read again once due; the lane holds nothing meanwhile. A message of a partition
/// this member no longer owns, or met during shutdown, is given back unhandled: the next owner
/// reads it from the committed offset (swift-kafka-client #136). A lane with `highWater`
/// messages waiting pauses its partition until it is down to half of that, so a slow partition
/// never makes the worker hold more than that many of its messages.
final class PartitionLane: Sendable {
    let partition: KafkaTopicPartition
    /// A retry topic's partition: its messages wait until due.
    private let delayed: Bool
    /// The longest a retry message can be due in (the largest retry delay): a header asking for
    /// longer is not believed.
    private let longestDelay: TimeInterval
    private let consumer: KafkaConsumer
    private let pipeline: MessageHandler
    private let backoff: Backoff
    private let logger: Logger
    private let isStopping: @Sendable () -> Bool
    private let highWater: Int
    private let messages: AsyncStream<KafkaConsumerMessage>
    private let input: AsyncStream<KafkaConsumerMessage>.Continuation
    /// Messages submitted and not yet done, and whether the lane paused the partition for them.
    private let backlog = Mutex<(count: Int, paused: Bool)>((0, false))

    init(partition: KafkaTopicPartition, delayed: Bool, longestDelay: Duration, consumer: KafkaConsumer,
         pipeline: @escaping MessageHandler, backoff: Backoff, logger: Logger, highWater: Int = 200,
         isStopping: @escaping @Sendable () -> Bool) {
        self.partition = partition
        self.delayed = delayed
        self.longestDelay = longestDelay.seconds
        self.consumer = consumer
        self.pipeline = pipeline
        self.backoff = backoff
        self.logger = logger
        self.highWater = highWater
        self.isStopping = isStopping
        (messages, input) = AsyncStream.makeStream(of: KafkaConsumerMessage.self)
    }

    /// Queues a message of this partition (called by the one task reading the consumer).
    func submit(_ message: KafkaConsumerMessage) {
        backlog.withLock { backlog in
            backlog.count += 1
            if backlog.count >= highWater, !backlog.paused {
                backlog.paused = true
                consumer.pause(partition)
            }
        }
        input.yield(message)
    }

    /// No more messages: the lane ends once it has dealt with those queued.
    func finish() {
        input.finish()
    }

    private func done() {
        backlog.withLock { backlog in
            backlog.count -= 1
            if backlog.paused, backlog.count <= highWater / 2 {
                backlog.paused = false
                consumer.resume(partition)
            }
        }
    }

    private var mustStop: Bool { isStopping() || Task.isCancelled }

    func run() async {
        // After a pause, the offset the partition resumes from: messages after it that reached the
        // lane before the pause took effect are read again after the resume, so they are skipped.
        var rewoundTo: Int64?
        for await message in messages {
            defer { done() }
            if let rewind = rewoundTo {
                if message.offset > rewind { continue }
                rewoundTo = nil
            }
            guard !mustStop, consumer.assignment.contains(partition) else {
                rewoundTo = nil
                consumer.abandon(partition, from: message.offset)
                continue
            }
            if delayed, let due = Self.notBefore(message), due > Date() {
                consumer.pause(partition, rewindingTo: message.offset)
                rewoundTo = message.offset
                let wait = min(due.timeIntervalSinceNow, longestDelay)
                _ = try? await cancelWhenGracefulShutdown { try await Task.sleep(for: .milliseconds(Int64(wait * 1000) + 1)) }
                if mustStop { continue }
                if !consumer.assignment.contains(partition) { rewoundTo = nil }
                consumer.resume(partition)
                continue
            }
            guard await handle(message) else {
                consumer.abandon(partition, from: message.offset)
                continue
            }
            do {
                try await consumer.commit(message)
            } catch {
                // The next commit of this partition covers this one; if none comes (the partition
                // moved), the next owner reads the message again and finds it in the inbox.
                logger.warning("offset commit failed", metadata: ["kafka.partition": "\(partition)", "error": "\(error)"])
            }
        }
    }

    /// Runs the pipeline until the message is done. The pipeline throws only when it could not
    /// hand a failed message on (the broker or the database away): then the same message is tried
    /// again after a backoff, never skipped. False when it was given up (shutdown, revocation).
    private func handle(_ message: KafkaConsumerMessage) async -> Bool {
        var attempt = 0
        while true {
            do {
                try await pipeline(message)
                return true
            } catch {
                if mustStop || !consumer.assignment.contains(partition) { return false }
                let delay = backoff.delay(attempt: attempt)
                attempt += 1
                logger.error("message could not be handled or handed on; trying it again", metadata: [
                    "kafka.partition": "\(partition)", "kafka.offset": "\(message.offset)", "error": "\(error)", "retry_in": "\(delay)",
                ])
                _ = try? await cancelWhenGracefulShutdown { try await Task.sleep(for: delay) }
            }
        }
    }

    /// When a retry topic's message is due (its `retry-not-before` header, Unix milliseconds).
    static func notBefore(_ message: KafkaConsumerMessage) -> Date? {
        guard let text = message.headers.first(named: RetryTopicMiddleware.retryNotBefore), let milliseconds = Int64(text) else {
            return nil
        }
        return Date(timeIntervalSince1970: Double(milliseconds) / 1000)
    }
}
