import Foundation

/// `GET /charges/{order_id}`: what the simulator did for one order, so `settle verify` can
/// prove "at most once" from the processor's side.
struct ProcessorOrderCounts: Sendable, Equatable {
    var orderID: UUID
    /// Charges actually taken (poison and crashed-after-charge ones included).
    var charges: Int64
    var refunds: Int64
    /// Every `/charges` and `/refunds` request for the order: replays, 503s and dropped ones too.
    var calls: Int64

    var answer: ProcessorAnswer {
        .json(200, "{\"order_id\":\"\(orderID.uuidString.lowercased())\",\"charges\":\(charges),\"refunds\":\(refunds),\"calls\":\(calls)}")
    }
}
