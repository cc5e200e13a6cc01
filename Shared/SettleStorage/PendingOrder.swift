import Foundation
import SettleDomain

/// An order waiting in a group commit: the row, the id of its `order.created` event, and the
/// answer to store under the request's idempotency claim.
public struct PendingOrder: Sendable {
    public var order: Order
    public var eventID: UUID
    public var claim: IdempotencyClaim?
    /// The 201 body: the order's JSON, stored with the claim so a replay returns these very
    /// bytes, and the `object` of the event's `data`.
    public var responseBody: [UInt8]

    public init(order: Order, eventID: UUID, claim: IdempotencyClaim?, responseBody: [UInt8]) {
        self.order = order
        self.eventID = eventID
        self.claim = claim
        self.responseBody = responseBody
    }
}
