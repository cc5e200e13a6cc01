import Foundation
import SettleDomain

/// Money one request moves: a charge taken or a refund made, with the id the answer carries.
struct ProcessorMovement: Sendable {
    var endpoint: ProcessorEndpoint
    /// `ch_` or `re_` and 24 lower-case hex digits.
    var id: String
    var orderID: UUID
    var amount: Int64
    var currency: String

    init(_ endpoint: ProcessorEndpoint, orderID: UUID, amount: Int64, currency: String) {
        self.endpoint = endpoint
        id = endpoint.idPrefix + Hex.encode((0..<12).map { _ in UInt8.random(in: .min ... .max) })
        self.orderID = orderID
        self.amount = amount
        self.currency = currency
    }

    /// The success answer, fields in the documented order. Every value is validated or ours
    /// (hex id, UUID, integer, three letters), so nothing here needs escaping.
    var succeeded: ProcessorAnswer {
        .json(200, head + "\"amount\":\(amount),\"currency\":\"\(currency)\",\"status\":\"succeeded\"}")
    }

    /// `pm_card_poison`: a 200 whose body stops mid-object, as a processor that crashed while
    /// writing would leave it. The charge is taken all the same.
    var poison: ProcessorAnswer {
        .json(200, "{\"id\":\"\(id)\",\"object\":\"\(endpoint.object)\",")
    }

    private var head: String {
        "{\"id\":\"\(id)\",\"object\":\"\(endpoint.object)\",\"order_id\":\"\(orderID.uuidString.lowercased())\","
    }
}
