import Foundation
import Logging
import PostgresNIO
import SettleDomain

/// Reads orders and changes their state; every query is scoped to one merchant.
public struct OrderStore: Sendable {
    let client: PostgresClient
    let logger: Logger
    /// Longest a call may take, its connection's lease included; past it the call fails with
    /// `DatabaseUnavailable` and its connection is closed (`PostgresClient.withConnection(deadline:)`).
    let statementDeadline: Duration

    public init(client: PostgresClient, logger: Logger, statementDeadline: Duration = .seconds(5)) {
        self.client = client
        self.logger = logger
        self.statementDeadline = statementDeadline
    }

    public func find(_ id: UUID, merchant: UUID) async throws -> Order? {
        try await client.withConnection(deadline: statementDeadline) { [logger] connection in
            try await OrderRow.orders(try await connection.query(Self.findQuery(id, merchant: merchant), logger: logger)).first
        }
    }

    /// A page of the merchant's orders, newest first, optionally of one status.
    public func list(merchant: UUID, status: OrderStatus?, page: PageRequest) async throws -> Page<Order> {
        try await client.withConnection(deadline: statementDeadline) { [logger] connection in
            let rows = try await connection.query(Self.listQuery(merchant: merchant, status: status, page: page), logger: logger)
            return Page(fetched: try await OrderRow.orders(rows), request: page)
        }
    }

    /// The hot queries, public so a test can check their plans (`EXPLAIN`) are index scans.
    public static func findQuery(_ id: UUID, merchant: UUID) -> PostgresQuery {
        "\(unescaped: OrderRow.columns) WHERE id = \(id) AND merchant_id = \(merchant)"
    }

    public static func listQuery(merchant: UUID, status: OrderStatus?, page: PageRequest) -> PostgresQuery {
        let status = status?.rawValue
        let fetch = page.limit + 1
        if let newerThan = page.endingBefore {
            return """
                \(unescaped: OrderRow.columns)
                WHERE merchant_id = \(merchant) AND (\(status)::text IS NULL OR status = \(status)) AND id > \(newerThan)
                ORDER BY id ASC LIMIT \(fetch)
                """
        }
        return """
            \(unescaped: OrderRow.columns)
            WHERE merchant_id = \(merchant) AND (\(status)::text IS NULL OR status = \(status)) AND id < \(page.olderThan)
            ORDER BY id DESC LIMIT \(fetch)
            """
    }

    public enum RefundOutcome: Sendable {
        case requested(Order)
        case notFound
        case notRefundable(OrderStatus)
    }

    /// Moves a `succeeded` order to `refund_pending` and records its `refund.requested` event and
    /// outbox row, all in one transaction; `response` (if any) completes an idempotency claim in
    /// the same transaction, so a replay answers exactly what this request answered.
    public func requestRefund(
        _ id: UUID, merchant: UUID, claim: IdempotencyClaim?, traceparent: String? = nil,
        response: @escaping @Sendable (RefundOutcome) -> (status: Int, body: [UInt8])
    ) async throws -> RefundOutcome {
        try await client.withTransaction(deadline: statementDeadline, logger: logger) { [logger] connection in
            let updated = try await OrderRow.orders(try await connection.query("""
                UPDATE orders SET status = 'refund_pending', version = version + 1, updated_at = now()
                WHERE id = \(id) AND merchant_id = \(merchant) AND status = 'succeeded'
                RETURNING \(unescaped: OrderRow.selectList)
                """, logger: logger))
            let outcome: RefundOutcome
            if let order = updated.first {
                let event = Event(id: UUIDv7.make(), merchantID: merchant, orderID: id, type: .refundRequested, order: order, createdAt: Date())
                try await EventWriter.insert(event, traceparent: traceparent, on: connection, logger: logger)
                outcome = .requested(order)
            } else {
                let current = try await OrderRow.orders(try await connection.query(
                    "\(unescaped: OrderRow.columns) WHERE id = \(id) AND merchant_id = \(merchant)", logger: logger)).first
                outcome = current.map { .notRefundable($0.status) } ?? .notFound
            }
            if let claim {
                let (status, body) = response(outcome)
                try await claim.complete(status: status, body: body, on: connection, logger: logger)
            }
            return outcome
        }
    }
}
