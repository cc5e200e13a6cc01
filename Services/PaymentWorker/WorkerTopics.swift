import SettleDomain

/// The worker's topics (DESIGN.md "Kafka topics"), optionally behind a prefix so that several
/// pipelines can share one broker.
struct WorkerTopics: Sendable {
    var main: String
    /// `orders.v1.retry.1`, `.2`, `.3`.
    var retries: [String]
    var deadLetter: String
    var parked: String

    init(prefix: String) {
        main = prefix + KafkaTopics.orders
        retries = KafkaTopics.ordersRetry.map { prefix + $0 }
        deadLetter = prefix + KafkaTopics.ordersDeadLetter
        parked = prefix + KafkaTopics.ordersParked
    }

    /// Every topic the worker consumes.
    var consumed: [String] { [main] + retries }

    /// 0 for the main topic, n for `retry.n`.
    func tier(of topic: String) -> Int {
        retries.firstIndex(of: topic).map { $0 + 1 } ?? 0
    }

    /// Where a message that failed on `topic` goes next: the next retry topic, or the dead-letter topic.
    func next(after topic: String) -> String {
        let tier = tier(of: topic)
        return tier < retries.count ? retries[tier] : deadLetter
    }
}
