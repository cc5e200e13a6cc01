/// Settle's Kafka topics (DESIGN.md "Kafka topics").
public enum KafkaTopics {
    public static let orders = "orders.v1"
    public static let ordersRetry = ["orders.v1.retry.1", "orders.v1.retry.2", "orders.v1.retry.3"]
    public static let ordersDeadLetter = "orders.v1.dlq"
    /// Where `settle dlq replay` puts a message dead-lettered more than the allowed number of times.
    public static let ordersParked = "orders.v1.parked"
    public static let payments = "payments.v1"
    public static let paymentsDeadLetter = "payments.v1.dlq"

    /// Every topic with its partition count: 12 for the main topics and their retry topics.
    public static let all: [(name: String, partitions: Int)] =
        [(orders, 12)] + ordersRetry.map { ($0, 12) } + [(ordersDeadLetter, 3), (ordersParked, 3), (payments, 12), (paymentsDeadLetter, 3)]
}
