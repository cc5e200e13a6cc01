import Foundation
import Logging
import ServiceLifecycle
import SettleKafka
import SettleRuntime

/// Handles one partition's messages in order, one at a time, while other partitions' lanes run
/// concurrently (DESIGN.md contract clause 6).
///
/// A message is committed only after it was handled: the outcome recorded, or the message handed
/// on to a retry or dead-letter topic. A retry topic's head that is not due yet pauses this
/// partition alone: the message is given back to the consumer (so a revocation does not wait
/// for it) and read again once due; the lane holds nothing meanwhile. A message of a partition
/// this member no longer owns, or met during shutdown, is given back unhandled: the next owner
/// reads it from the committed offset (swift-kafka-client #136).
struct PartitionLane: Sendable {
    let partition: KafkaTopicPartition
    /// A retry topic's partition: its messages wait until due.
    let delayed: Bool
    let consumer: KafkaConsumer
    let pipeline: MessageHandler
    let backoff: Backoff
    let logger: Logger
    let isStopping: @Sendable () -> Bool

    func run(_ messages: AsyncStream<KafkaConsumerMessage>) async {
        // After a pause, the offset the partition resumes from: messages after it that reached the
        // lane before the pause took effect are read again after the resume, so they are skipped.
        var rewoundTo: Int64?
        for await message in messages {
            if let rewind = rewoundTo {
                if message.offset > rewind { continue }
                rewoundTo = nil
            }
            guard !isStopping(), consumer.assignment.contains(partition) else {
                rewoundTo = nil
                consumer.abandon(partition, from: message.offset)
                continue
            }
            if delayed, let due = Self.notBefore(message), due > Date() {
                consumer.pause(partition, rewindingTo: message.offset)
                rewoundTo = message.offset
                let wait = due.timeIntervalSinceNow
                _ = try? await cancelWhenGracefulShutdown { try await Task.sleep(for: .milliseconds(Int64(wait * 1000) + 1)) }
                if isStopping() { continue }
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
                if isStopping() || !consumer.assignment.contains(partition) { return false }
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
