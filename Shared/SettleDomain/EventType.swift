/// The events of an order's life: outbox rows, Kafka messages, `GET /v1/events` and webhook types.
public enum EventType: String, Sendable, CaseIterable, Codable {
    case orderCreated = "order.created"
    case paymentSucceeded = "payment.succeeded"
    case paymentFailed = "payment.failed"
    case refundRequested = "refund.requested"
    case paymentRefunded = "payment.refunded"
    /// The dispatcher disabled an endpoint: it answered 410, or failed every attempt for days.
    case webhookEndpointDisabled = "webhook_endpoint.disabled"
    /// A new API key was made, and the key that rolled it expires after the overlap chosen.
    case keyRolled = "key.rolled"
    /// An API key was revoked: it is refused from now on.
    case keyRevoked = "key.revoked"

    /// The topic the relay publishes this event to (DESIGN.md "Kafka topics"): what the payment
    /// worker acts on goes to `orders.v1`, what it did to `payments.v1`. Both are keyed by the
    /// order id, so each topic carries an order's events in order; an endpoint's event is keyed
    /// by its own id (as is an API key's) and goes where the dispatcher reads, to reach the merchant's endpoints.
    public var topic: String {
        switch self {
        case .orderCreated, .refundRequested: KafkaTopics.orders
        case .paymentSucceeded, .paymentFailed, .paymentRefunded, .webhookEndpointDisabled, .keyRolled, .keyRevoked: KafkaTopics.payments
        }
    }
}
