import Foundation
import Logging
import PostgresNIO
import SettleDomain

/// The payment worker's reads and writes (DESIGN.md contract clauses 2 and 5).
///
/// An outcome is recorded in one transaction with everything that depends on it: the order's new
/// state, its `payment.*` event and outbox row, and the inbox row that marks the consumed event
/// as handled. A worker killed before that commit leaves nothing behind, and the event is read
/// again; one killed after it finds the inbox row and does nothing.
public struct PaymentStore: Sendable {
    let client: PostgresClient
    let logger: Logger
    /// The inbox's consumer name (the consumer group).
    let consumer: String
    /// The longest a read or a record may take, lease included. postgres-nio was seen to leave a
    /// query unanswered for good when PostgreSQL went away under it (an immediate shutdown), which
    /// stalled the partition with no error. Past the deadline the connection is closed
    /// (`PostgresClient.withConnection(deadline:)`) and the attempt fails as transient; a record
    /// that committed after all is found in the inbox on the retry and skipped.
    let statementDeadline: Duration

    public init(client: PostgresClient, consumer: String, logger: Logger, statementDeadline: Duration = .seconds(10)) {
        self.statementDeadline = statementDeadline
        self.client = client
        self.consumer = consumer
        self.logger = logger
    }

    /// What the worker needs before it acts on an event: the order, and whether the event was handled already.
    public struct Subject: Sendable {
        public var order: Order
        public var handled: Bool
    }

    /// The order (nil when there is none) and whether `event` is in the inbox, in one round trip.
    public func subject(order id: UUID, event: UUID) async throws -> Subject? {
        try await client.withConnection(deadline: statementDeadline) { [consumer, logger] connection in
            try await Self.subject(order: id, event: event, consumer: consumer, on: connection, logger: logger)
        }
    }

    private static func subject(order id: UUID, event: UUID, consumer: String, on connection: PostgresConnection,
                                logger: Logger) async throws -> Subject? {
        let rows = try await connection.query(Self.subjectQuery(order: id, event: event, consumer: consumer), logger: logger)
        for try await (id, merchant, amount, currency, method, description, metadata, status, failure, created, version, handled)
            in rows.decode((UUID, UUID, Int64, String, String, String?, String, String, String?, Date, Int32, Bool).self) {
            let order = try OrderRow.order((id, merchant, amount, currency, method, description, metadata, status, failure, created, version))
            return Subject(order: order, handled: handled)
        }
        return nil
    }

    /// The worker's hot read; public so a test can check its plan uses the primary keys.
    public static func subjectQuery(order id: UUID, event: UUID, consumer: String) -> PostgresQuery {
        """
        SELECT \(unescaped: OrderRow.selectList),
               EXISTS (SELECT 1 FROM inbox WHERE consumer = \(consumer) AND event_id = \(event))
        FROM orders WHERE id = \(id)
        """
    }

    public enum Recorded: Sendable {
        /// The order moved to its new state with its event; this is the order as it is now.
        case recorded(Order)
        /// The event was handled before (it is in the inbox): nothing changed.
        case duplicate
        /// The order was no longer in the state the change starts from: the event is marked as
        /// handled and nothing else changed.
        case stale(OrderStatus)
    }

    /// Moves an order from `from` to `to` and writes `eventType` with its outbox row and the
    /// inbox row of the consumed event, in one transaction.
    ///
    /// The order's row lock is taken first: it is the transaction's first write, which is when
    /// PostgreSQL assigns its transaction id, so per order the outbox's (transaction id, id)
    /// order is commit order (migration 0006).
    public func record(order id: UUID, consumed event: UUID, from: OrderStatus, to: OrderStatus, failureCode: String?,
                       eventType: EventType, traceparent: String? = nil) async throws -> Recorded {
        try await client.withConnection(deadline: statementDeadline) { [consumer, logger] connection in
            try await connection.withTransaction(logger: logger) { connection in
                let locked = try await connection.query(
                    "SELECT status FROM orders WHERE id = \(id) FOR UPDATE", logger: logger)
                var current: String?
                for try await status in locked.decode(String.self) { current = status }
                guard let current, let status = OrderStatus(rawValue: current) else {
                    throw CorruptRow(table: "orders", detail: "order \(id) vanished while it was being charged")
                }
                let inserted = try await connection.query("""
                    INSERT INTO inbox (consumer, event_id) VALUES (\(consumer), \(event)) ON CONFLICT DO NOTHING RETURNING 1
                    """, logger: logger)
                var fresh = false
                for try await _ in inserted.decode(Int.self) { fresh = true }
                guard fresh else { return .duplicate }
                guard status == from else { return .stale(status) }
                let updated = try await OrderRow.orders(try await connection.query("""
                    UPDATE orders SET status = \(to.rawValue), failure_code = \(failureCode), version = version + 1, updated_at = now()
                    WHERE id = \(id)
                    RETURNING \(unescaped: OrderRow.selectList)
                    """, logger: logger))
                guard let order = updated.first else { throw CorruptRow(table: "orders", detail: "order \(id) not updated") }
                let outcome = Event(id: UUIDv7.make(), merchantID: order.merchantID, orderID: order.id, type: eventType,
                                    order: order, createdAt: Date())
                try await EventWriter.insert(outcome, traceparent: traceparent, on: connection, logger: logger)
                return .recorded(order)
            }
        }
    }
}
