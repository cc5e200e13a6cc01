import AsyncHTTPClient
import Foundation
import Logging
import Metrics
import ServiceLifecycle
import SettleDomain
import SettleRuntime
import SettleStorage
import Synchronization
import Tracing

/// Sends due deliveries from the table: claims as many as it has free slots (at most
/// `perEndpoint` per endpoint, so a slow or hanging endpoint holds a few slots and never the
/// rest), sends each in a task of its own, and records each answer with what follows from it.
/// It claims when its `Doorbell` rings (new deliveries, a freed slot, every poll interval).
/// On graceful shutdown it claims nothing more and lets the deliveries in flight finish; if it
/// is killed instead, their leases end and another sender (or the next start) claims them.
final class DeliverySender: Service, Sendable {
    private let store: WebhookDeliveryStore
    private let sender: WebhookSender
    private let settings: DispatcherSettings
    private let deadLetterTopic: String
    private let logger: Logger
    private let inFlight = Atomic<Int>(0)
    private let stopping = Atomic<Bool>(false)
    private let doorbell: Doorbell

    init(store: WebhookDeliveryStore, sender: WebhookSender, settings: DispatcherSettings, doorbell: Doorbell, logger: Logger) {
        self.store = store
        self.doorbell = doorbell
        self.sender = sender
        self.settings = settings
        // The relay adds the deployment's topic prefix to every outbox row's topic.
        self.deadLetterTopic = KafkaTopics.paymentsDeadLetter
        self.logger = logger
    }

    func run() async throws {
        await withGracefulShutdownHandler {
            await withDiscardingTaskGroup { group in
                var failures = 0
                while !self.stopping.load(ordering: .relaxed), !Task.isCancelled {
                    let free = self.settings.concurrency - self.inFlight.load(ordering: .relaxed)
                    var claimed: [WebhookDeliveryStore.Claimed] = []
                    if free > 0 {
                        do {
                            claimed = try await self.store.claim(limit: free, perEndpoint: self.settings.perEndpoint,
                                                                 health: self.settings.health, lease: self.settings.lease)
                            failures = 0
                        } catch {
                            failures += 1
                            if failures == 1 || failures % 20 == 0 {
                                self.logger.warning("cannot claim deliveries; retrying", metadata: ["error": "\(String(reflecting: error))"])
                            }
                        }
                    }
                    for delivery in claimed {
                        self.inFlight.add(1, ordering: .relaxed)
                        group.addTask {
                            await self.deliver(delivery)
                            self.inFlight.subtract(1, ordering: .relaxed)
                            self.doorbell.ring()  // a slot is free, and an endpoint's next delivery may be waiting for it
                        }
                    }
                    // A full claim may have more behind it: claim again at once. Otherwise wait for
                    // a ring (deliveries written, a slot freed) or the poll, for deliveries that
                    // came due on their schedule or that another dispatcher wrote.
                    if claimed.isEmpty || claimed.count < free {
                        await self.doorbell.wait(upTo: self.settings.poll)
                    }
                }
                // The deliveries in flight finish (each within the HTTP time-out) before the group ends.
            }
        } onGracefulShutdown: {
            self.stopping.store(true, ordering: .relaxed)
            self.doorbell.ring()
        }
        try? await sender.http.shutdown()
    }

    /// Each attempt is a span, a child of the span the event happened in; the webhook request
    /// carries it in its `traceparent` header.
    private func deliver(_ delivery: WebhookDeliveryStore.Claimed) async {
        await withSpan("settle-dispatcher deliver", context: SettleTracing.context(traceparent: delivery.traceparent), ofKind: .client) { span in
            span.attributes["settle.event_id"] = delivery.eventID.uuidString.lowercased()
            span.attributes["settle.delivery_attempt"] = delivery.attempt
            await deliverInSpan(delivery, span: span)
        }
    }

    private func deliverInSpan(_ delivery: WebhookDeliveryStore.Claimed, span: any Span) async {
        let (answer, attempt) = await sender.send(delivery)
        if let code = attempt.statusCode { span.attributes["http.response.status_code"] = code }
        let decision = settings.retry.decide(answer, attempt: delivery.attempt)
        let metadata: Logger.Metadata = [
            "delivery_id": "\(delivery.id.uuidString.lowercased())", "event_id": "\(delivery.eventID.uuidString.lowercased())",
            "endpoint_id": "\(delivery.endpointID.uuidString.lowercased())", "attempt": "\(delivery.attempt)",
            "status_code": "\(attempt.statusCode.map(String.init) ?? "none")", "decision": "\(decision)",
        ]
        Counter(label: "settle_webhook_attempts_total", dimensions: [("outcome", Self.outcome(decision))]).increment()
        if decision == .delivered, let occurred = UUIDv7.date(of: delivery.eventID) {
            // Event ids are UUIDv7 made when the event was: the webhook SLO's histogram (99 % within 60 s).
            Self.deliveryTime.recordNanoseconds(Int64(max(0, Date().timeIntervalSince(occurred)) * 1_000_000_000))
        }
        // The answer must be recorded: retry until it is, within the lease (past it another
        // sender may claim the delivery again, which at worst sends it twice, never loses it).
        var tries = 0
        while true {
            do {
                let owned = try await store.record(delivery, attempt, decision: decision, health: settings.health,
                                                   deadLetterTopic: deadLetterTopic)
                if !owned { logger.warning("a delivery's lease ended before its answer was recorded", metadata: metadata) }
                break
            } catch {
                tries += 1
                if tries >= 20 {
                    logger.error("cannot record a delivery's answer; its lease will end and it is sent again",
                                 metadata: metadata.merging(["error": "\(String(reflecting: error))"]) { $1 })
                    return
                }
                try? await Task.sleep(for: .milliseconds(250 * tries))
            }
        }
        switch decision {
        case .delivered: logger.info("webhook delivered", metadata: metadata)
        case .retry: logger.info("webhook attempt failed; retrying", metadata: metadata)
        case .dead: logger.error("webhook delivery dead after its last attempt", metadata: metadata)
        case .gone: logger.warning("webhook endpoint answered 410 Gone; disabled", metadata: metadata)
        }
    }

    /// From an event to its webhook's 2xx.
    static let deliveryTime = Metrics.Timer(label: "settle_webhook_delivery_seconds")

    static func outcome(_ decision: WebhookRetryPolicy.Decision) -> String {
        switch decision {
        case .delivered: "delivered"
        case .retry: "retry"
        case .dead: "dead"
        case .gone: "gone"
        }
    }
}
