/// The events of an order's life: outbox rows, Kafka messages, `GET /v1/events` and webhook types.
public enum EventType: String, Sendable, CaseIterable, Codable {
    case orderCreated = "order.created"
    case paymentSucceeded = "payment.succeeded"
    case paymentFailed = "payment.failed"
    case refundRequested = "refund.requested"
    case paymentRefunded = "payment.refunded"

    /// The topic the relay publishes this event to (DESIGN.md "Kafka topics"): what the payment
    /// worker acts on goes to `orders.v1`, what it did to `payments.v1`. Both are keyed by the
    /// order id, so each topic carries an order's events in order.
    public var topic: String {
        switch self {
        case .orderCreated, .refundRequested: KafkaTopics.orders
        case .paymentSucceeded, .paymentFailed, .paymentRefunded: KafkaTopics.payments
        }
    }
}
