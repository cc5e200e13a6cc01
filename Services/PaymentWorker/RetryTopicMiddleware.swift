import Foundation
import Logging
import Metrics
import SettleDomain
import SettleKafka
import SettleStorage

/// Where a message goes when the handler (with its in-process retries) gave up on it: a transient
/// failure moves to the next retry topic, due after that tier's delay; a permanent one, or one
/// that failed on the last retry topic, goes to the dead-letter topic (DESIGN.md "Retries" and
/// "Kafka topics"). Either way the message is then done and its offset can be committed: a
/// poison message never stops the consumer. Only a failure to hand the message on (the broker
/// or the database away) is thrown, so the message is tried again rather than lost.
struct RetryTopicMiddleware: Sendable {
    var producer: KafkaProducer
    var topics: WorkerTopics
    var delays: [Duration]
    var group: String
    var deadLetters: DeadLetterStore
    var logger: Logger

    /// Headers this middleware sets; a message handed on carries the others as they came.
    static let retryAttempt = "retry-attempt"
    static let retryNotBefore = "retry-not-before"
    static let originalTimestamp = "original-timestamp"
    static let firstFailedAt = "retry-first-failed-at"
    static let tries = "retry-tries"
    /// Where the message was read on the main topic, carried through the retry topics for the DLQ headers.
    static let originalPartition = "retry-original-partition"
    static let originalOffset = "retry-original-offset"
    static let deadLetterCount = "dlq-count"

    static func retries(_ topic: String) -> Counter {
        Counter(label: "settle_worker_retries_total", dimensions: [("tier", topic)])
    }

    static func deadLettered(_ errorClass: String) -> Counter {
        Counter(label: "settle_worker_dead_lettered_total", dimensions: [("error_class", errorClass)])
    }

    func wrap(_ next: @escaping MessageHandler) -> MessageHandler {
        { message in
            do {
                try await next(message)
            } catch is CancellationError {
                throw CancellationError()  // the worker is stopping: neither done nor failed
            } catch {
                try await handOn(message, failure: WorkerFailure.classify(error))
            }
        }
    }

    private func handOn(_ message: KafkaConsumerMessage, failure: WorkerFailure) async throws {
        let now = Date()
        let headers = message.headers
        let firstFailed = headers.first(named: Self.firstFailedAt).flatMap(Int64.init) ?? Int64(now.timeIntervalSince1970 * 1000)
        let tries = (headers.first(named: Self.tries).flatMap(Int.init) ?? 0) + failure.attempts
        let destination = failure.isRetryable ? topics.next(after: message.topic) : topics.deadLetter
        let own = headers.filter { !$0.key.hasPrefix("retry-") && !$0.key.hasPrefix("dlq-") && $0.key != Self.originalTimestamp }
        let originalTimestamp = headers.first(named: Self.originalTimestamp) ?? message.timestampMilliseconds.map(String.init) ?? ""
        let originalPartition = headers.first(named: Self.originalPartition) ?? String(message.partition)
        let originalOffset = headers.first(named: Self.originalOffset) ?? String(message.offset)
        let metadata: Logger.Metadata = [
            "error_class": "\(failure.errorClass)", "error": "\(failure.message)", "kafka.topic": "\(message.topic)",
            "kafka.partition": "\(message.partition)", "kafka.offset": "\(message.offset)", "destination": "\(destination)",
            "event_id": "\(headers.first(named: "event-id") ?? "")", "order_id": "\(message.keyString ?? "")",
        ]

        if destination != topics.deadLetter {
            let tier = topics.tier(of: destination)
            let due = now.addingTimeInterval(delays[tier - 1].seconds)
            let retry = own + [
                KafkaHeader(key: Self.retryAttempt, value: String(tier)),
                KafkaHeader(key: Self.retryNotBefore, value: String(Int64(due.timeIntervalSince1970 * 1000))),
                KafkaHeader(key: Self.originalTimestamp, value: originalTimestamp),
                KafkaHeader(key: Self.firstFailedAt, value: String(firstFailed)),
                KafkaHeader(key: Self.tries, value: String(tries)),
                KafkaHeader(key: Self.originalPartition, value: originalPartition),
                KafkaHeader(key: Self.originalOffset, value: originalOffset),
            ] + headers.filter { $0.key == Self.deadLetterCount }
            try await producer.send(KafkaProducerMessage(topic: destination, key: message.key, value: message.value, headers: retry))
            Self.retries(destination).increment()
            logger.warning("message moved to a retry topic", metadata: metadata)
            return
        }

        let count = (headers.first(named: Self.deadLetterCount).flatMap(Int.init) ?? 0) + 1
        let failedAt = Date(timeIntervalSince1970: Double(firstFailed) / 1000)
        // The row first, then the message: a crash between them repeats the insert, which does nothing.
        // Text columns cannot hold a NUL, which a hostile key or header may carry: dropped there.
        let deadLetters = deadLetters
        let letter = DeadLetter(
            topic: topics.deadLetter, originalTopic: topics.main, sourceTopic: message.topic, sourcePartition: message.partition,
            sourceOffset: message.offset, consumerGroup: group, eventID: headers.first(named: "event-id").flatMap(UUID.init(uuidString:)),
            key: message.keyString.map(Self.text), payload: message.value,
            headers: own.map { (Self.text($0.key), Self.text($0.stringValue ?? "")) },
            errorClass: failure.errorClass, errorMessage: Self.text(failure.message), attempts: tries, deadLetterCount: count,
            firstFailedAt: failedAt)
        // Within the store's statement deadline, like the handler's statements: a query left
        // unanswered must not stall the partition.
        try await deadLetters.insert(letter)
        let dead = own + [
            KafkaHeader(key: "dlq-original-topic", value: topics.main),
            KafkaHeader(key: "dlq-original-partition", value: originalPartition),
            KafkaHeader(key: "dlq-original-offset", value: originalOffset),
            KafkaHeader(key: "dlq-consumer-group", value: group),
            KafkaHeader(key: "dlq-error-class", value: failure.errorClass),
            KafkaHeader(key: "dlq-error-message", value: failure.message),
            KafkaHeader(key: "dlq-attempts", value: String(tries)),
            KafkaHeader(key: "dlq-first-failed-at", value: ISO8601DateFormatter().string(from: failedAt)),
            KafkaHeader(key: Self.deadLetterCount, value: String(count)),
            KafkaHeader(key: Self.originalTimestamp, value: originalTimestamp),
        ]
        try await producer.send(KafkaProducerMessage(topic: topics.deadLetter, key: message.key, value: message.value, headers: dead))
        Self.deadLettered(failure.errorClass).increment()
        logger.error("message dead-lettered", metadata: metadata)
    }

    static func text(_ value: String) -> String {
        value.contains("\u{0}") ? value.replacingOccurrences(of: "\u{0}", with: "") : value
    }
}
