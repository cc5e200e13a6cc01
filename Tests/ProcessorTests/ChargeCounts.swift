/// `GET /charges/{order_id}` decoded.
struct ChargeCounts: Sendable, Equatable, Decodable, CustomStringConvertible {
    var orderID: String
    var charges: Int
    var refunds: Int
    var calls: Int

    enum CodingKeys: String, CodingKey {
        case orderID = "order_id"
        case charges, refunds, calls
    }

    var description: String { "charges \(charges), refunds \(refunds), calls \(calls)" }
}
