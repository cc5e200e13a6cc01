/// The events of an order's life: outbox rows, Kafka messages, `GET /v1/events` and webhook types.
public enum EventType: String, Sendable, CaseIterable, Codable {
    case orderCreated = "order.created"
    case paymentSucceeded = "payment.succeeded"
    case paymentFailed = "payment.failed"
    case refundRequested = "refund.requested"
    case paymentRefunded = "payment.refunded"

    /// The topic the relay publishes this event to (DESIGN.md "Kafka topics").
    public var topic: String {
        switch self {
        case .orderCreated: KafkaTopics.orders
        case .paymentSucceeded, .paymentFailed, .refundRequested, .paymentRefunded: KafkaTopics.payments
        }
    }
}
