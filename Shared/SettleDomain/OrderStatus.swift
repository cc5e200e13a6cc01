/// Where an order is in its life (DESIGN.md "Order states and events"):
/// `pending` → `succeeded` | `failed`; `succeeded` → `refund_pending` → `refunded`.
public enum OrderStatus: String, Sendable, CaseIterable, Codable {
    case pending
    case succeeded
    case failed
    case refundPending = "refund_pending"
    case refunded
}
