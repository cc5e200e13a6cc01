import Foundation
import Logging
import Metrics
import SettleDomain
import SettleKafka
import SettleRuntime
import SettleStorage
import Tracing

/// The payment logic for one `orders.v1` event: `order.created` charges the order,
/// `refund.requested` refunds it (DESIGN.md "Order states and events", contract clause 2).
///
/// An event already in the inbox is skipped. The processor call carries an idempotency key
/// derived from the order id, so whatever happened before (a crash after the charge, a retry, a
/// replay), the order is charged at most once. The outcome, its event and the inbox row commit
/// together; only then is the read cache moved past the old state, and only after that does the
/// consumer commit the offset.
struct PaymentHandler: Sendable {
    let store: PaymentStore
    let processor: ProcessorClient
    let cache: OrderCache
    let logger: Logger

    static func outcomes(_ kind: String, _ outcome: String) -> Counter {
        Counter(label: "settle_worker_\(kind)_total", dimensions: [("outcome", outcome)])
    }
    static let duplicates = Counter(label: "settle_worker_duplicates_total")
    /// From an order's creation to its charge's outcome committed: the settle-time SLO's histogram
    /// (99 % within 5 s, deploy/prometheus/rules.yml).
    static let settleTime = Metrics.Timer(label: "settle_worker_order_settle_seconds")

    /// One span per attempt, a child of the span the event happened in (its `traceparent`
    /// header); the processor call and the outcome's event carry it on.
    func handle(_ message: KafkaConsumerMessage) async throws {
        let parent = SettleTracing.context(traceparent: message.headers.first(named: SettleTracing.header))
        try await withSpan("settle-worker \(message.topic)", context: parent, ofKind: .consumer) { span in
            span.attributes["messaging.destination.name"] = message.topic
            span.attributes["messaging.kafka.offset"] = Int(message.offset)
            try await handleInSpan(message)
        }
    }

    private func handleInSpan(_ message: KafkaConsumerMessage) async throws {
        let envelope: EventEnvelope
        do {
            envelope = try EventEnvelope.decode(message.value)
        } catch {
            throw WorkerFailure.permanent("undecodable_message", error.description)
        }
        switch envelope.eventType {
        case .orderCreated:
            try await settle(envelope, from: .pending) { order in
                switch try await processor.charge(order) {
                case .approved: return (.succeeded, nil, .paymentSucceeded)
                case .declined(let code): return (.failed, code, .paymentFailed)
                }
            }
        case .refundRequested:
            try await settle(envelope, from: .refundPending) { order in
                switch try await processor.refund(order) {
                case .approved: return (.refunded, nil, .paymentRefunded)
                case .declined(let code): throw WorkerFailure.permanent("refund_declined", "the processor declined the refund (\(code))")
                }
            }
        default:
            throw WorkerFailure.permanent("unknown_event_type", "orders.v1 carries no events of type '\(envelope.type.prefix(100))'")
        }
    }

    /// Acts on an event about an order in state `from`: calls the processor through `act` and
    /// records what it decided.
    private func settle(
        _ envelope: EventEnvelope, from: OrderStatus,
        act: (Order) async throws -> (status: OrderStatus, failureCode: String?, event: EventType)
    ) async throws {
        var metadata: Logger.Metadata = ["order_id": "\(envelope.orderID.lowercased)", "event_id": "\(envelope.id.lowercased)",
                                         "event_type": "\(envelope.type)"]
        guard let subject = try await store.subject(order: envelope.orderID, event: envelope.id),
              subject.order.merchantID == envelope.merchantID else {
            throw WorkerFailure.permanent("unknown_order", "no order \(envelope.orderID.lowercased) of merchant \(envelope.merchantID.lowercased)")
        }
        if subject.handled {
            Self.duplicates.increment()
            logger.debug("event handled before; skipped", metadata: metadata)
            // A worker killed between its commit and the cache update left the old state
            // cached: store what the database holds now (an older version never wins).
            await cache.store(subject.order, json: subject.order.json)
            return
        }
        guard subject.order.status == from else {
            // Another event moved the order on (or this one is older than its state): nothing to do.
            logger.info("order is \(subject.order.status.rawValue), not \(from.rawValue); event skipped", metadata: metadata)
            return
        }
        let decision = try await act(subject.order)
        let traceparent = SettleTracing.traceparent()
        let recorded = try await store.record(order: envelope.orderID, consumed: envelope.id, from: from, to: decision.status,
                                              failureCode: decision.failureCode, eventType: decision.event, traceparent: traceparent)
        switch recorded {
        case .recorded(let order):
            // Before the offset commit: once the outcome was recorded, no read may show the state before it.
            await cache.store(order, json: order.json)
            Self.outcomes(from == .pending ? "charges" : "refunds", decision.status.rawValue).increment()
            if from == .pending {
                Self.settleTime.recordNanoseconds(Int64(max(0, Date().timeIntervalSince(order.createdAt)) * 1_000_000_000))
            }
            metadata["status"] = "\(order.status.rawValue)"
            logger.info("order settled", metadata: metadata)
        case .duplicate:
            Self.duplicates.increment()
        case .stale(let status):
            logger.info("order moved to \(status.rawValue) meanwhile; event marked handled", metadata: metadata)
        }
    }
}
