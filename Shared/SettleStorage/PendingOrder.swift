import Foundation
import SettleDomain

/// An order waiting in a group commit: the row, its `order.created` event, and the answer to
/// store under the request's idempotency claim.
public struct PendingOrder: Sendable {
    public var order: Order
    public var event: Event
    public var claim: IdempotencyClaim?
    /// The 201 body, stored with the claim so a replay returns these very bytes.
    public var responseBody: [UInt8]

    public init(order: Order, eventID: UUID, claim: IdempotencyClaim?, responseBody: [UInt8]) {
        self.order = order
        self.event = Event(id: eventID, merchantID: order.merchantID, orderID: order.id, type: .orderCreated, order: order, createdAt: order.createdAt)
        self.claim = claim
        self.responseBody = responseBody
    }
}
