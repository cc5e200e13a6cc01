import Foundation
import SettleDomain

/// An order waiting in a group commit: the row, the id of its `order.created` event, the
/// request's `Idempotency-Key` (if it sent one), and the answer to store under that key.
public struct PendingOrder: Sendable {
    public var order: Order
    public var eventID: UUID
    public var idempotencyKey: IdempotencyKeyUse?
    /// The 201 body: the order's JSON, stored under the key so a replay returns these very
    /// bytes, and the `object` of the event's `data`.
    public var responseBody: [UInt8]
    /// The request's span, carried by the event's outbox row to Kafka (a new trace when nil).
    public var traceparent: String?

    public init(order: Order, eventID: UUID, idempotencyKey: IdempotencyKeyUse?, responseBody: [UInt8], traceparent: String? = nil) {
        self.order = order
        self.eventID = eventID
        self.idempotencyKey = idempotencyKey
        self.responseBody = responseBody
        self.traceparent = traceparent
    }
}

/// A request's use of an `Idempotency-Key`: the key, and what identifies the request for it
/// (a different method, path or body under the same key is a misuse, not a retry).
public struct IdempotencyKeyUse: Sendable, Hashable {
    public var merchant: UUID
    public var key: String
    public var method: String
    public var path: String
    public var requestHash: [UInt8]

    public init(merchant: UUID, key: String, method: String, path: String, requestHash: [UInt8]) {
        self.merchant = merchant
        self.key = key
        self.method = method
        self.path = path
        self.requestHash = requestHash
    }
}
