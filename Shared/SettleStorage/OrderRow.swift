import Foundation
import PostgresNIO
import SettleDomain

/// How an `orders` row is selected and decoded.
enum OrderRow {
    /// The columns every order query returns, in the order `decode` expects.
    static let selectList = "id, merchant_id, amount, currency::text, payment_method, description, metadata::text, status, failure_code, created_at, version"

    /// `SELECT <selectList> FROM orders`, to be followed by a WHERE clause.
    static let columns = "SELECT \(selectList) FROM orders"

    typealias Columns = (UUID, UUID, Int64, String, String, String?, String, String, String?, Date, Int32)

    static func order(_ row: Columns) throws -> Order {
        let (id, merchantID, amount, currency, paymentMethod, description, metadata, status, failureCode, createdAt, version) = row
        guard let status = OrderStatus(rawValue: status) else { throw CorruptRow(table: "orders", detail: "status \(status)") }
        let decoded = try JSONDecoder().decode([String: String].self, from: Data(metadata.utf8))
        return Order(id: id, merchantID: merchantID, amount: amount, currency: currency, paymentMethod: paymentMethod,
                     description: description, metadata: decoded, status: status, failureCode: failureCode,
                     createdAt: createdAt, version: Int(version))
    }

    static func orders(_ rows: PostgresRowSequence) async throws -> [Order] {
        var orders: [Order] = []
        for try await row in rows.decode(Columns.self) {
            orders.append(try order(row))
        }
        return orders
    }
}

/// A row that breaks an invariant the schema cannot express; a bug, never input.
struct CorruptRow: Error, CustomStringConvertible {
    var table: String
    var detail: String
    var description: String { "unexpected row in \(table): \(detail)" }
}
