import Foundation
import Logging
import PostgresNIO
import SettleDomain

/// Commits many new orders in one statement, so one transaction (one fsync, with
/// `synchronous_commit=on`) carries a whole batch: each order row, its `order.created` event
/// and outbox row, and the completion of its idempotency claim (DESIGN.md contract clause 1).
public struct OrderBatchWriter: Sendable {
    let client: PostgresClient
    let logger: Logger

    public init(client: PostgresClient, logger: Logger) {
        self.client = client
        self.logger = logger
    }

    /// Inserts the batch in one transaction. Returns the ids of the orders committed; an order
    /// missing from the result lost its idempotency claim and was not created. Throws if the
    /// transaction failed, in which case nothing of the batch was committed.
    public func commit(_ batch: [PendingOrder]) async throws -> Set<UUID> {
        let rows = try batch.map(BatchRow.init)
        let json = String(decoding: try SettleJSON.encode(rows), as: UTF8.self)
        // One statement is one transaction: the data-modifying CTEs commit together or not at all.
        let inserted = try await client.query("""
            WITH batch AS (
                SELECT * FROM jsonb_to_recordset(\(json)::jsonb) AS b(
                    id uuid, merchant_id uuid, amount bigint, currency text, payment_method text, description text,
                    metadata jsonb, created_us bigint, event_id uuid, event_data jsonb, envelope jsonb, headers jsonb,
                    idempotency_key text, claim uuid, response text)
            ),
            claimed AS (
                UPDATE idempotency_keys AS k SET response_status = 201, response_body = convert_to(b.response, 'UTF8')
                FROM batch AS b
                WHERE b.idempotency_key IS NOT NULL AND k.merchant_id = b.merchant_id AND k.key = b.idempotency_key
                  AND k.claim = b.claim AND k.response_status IS NULL
                RETURNING b.id
            ),
            accepted AS (
                SELECT * FROM batch WHERE idempotency_key IS NULL OR id IN (SELECT id FROM claimed)
            ),
            new_orders AS (
                INSERT INTO orders (id, merchant_id, amount, currency, payment_method, description, metadata, status, created_at, updated_at)
                SELECT id, merchant_id, amount, currency, payment_method, description, metadata, 'pending',
                       to_timestamp(created_us::float8 / 1000000), to_timestamp(created_us::float8 / 1000000)
                FROM accepted
                RETURNING id
            ),
            new_events AS (
                INSERT INTO events (id, merchant_id, order_id, type, data, created_at)
                SELECT event_id, merchant_id, id, 'order.created', event_data, to_timestamp(created_us::float8 / 1000000)
                FROM accepted
                RETURNING id
            )
            INSERT INTO outbox (event_id, topic, key, payload, headers, created_at)
            SELECT event_id, \(KafkaTopics.orders), id::text, envelope, headers, to_timestamp(created_us::float8 / 1000000)
            FROM accepted
            RETURNING key
            """, logger: logger)
        var committed: Set<UUID> = []
        for try await key in inserted.decode(String.self) {
            if let id = UUID(uuidString: key) { committed.insert(id) }
        }
        return committed
    }
}

/// One order of a batch as the statement's `jsonb_to_recordset` reads it.
private struct BatchRow: Encodable {
    var id: String
    var merchantID: String
    var amount: Int64
    var currency: String
    var paymentMethod: String
    var description: String?
    var metadata: [String: String]
    var createdMicroseconds: Int64
    var eventID: String
    var eventData: Event.Payload
    var envelope: Event.Envelope
    var headers: OutboxHeaders
    var idempotencyKey: String?
    var claim: String?
    var response: String

    init(_ pending: PendingOrder) throws {
        let order = pending.order
        id = order.id.lowercased
        merchantID = order.merchantID.lowercased
        amount = order.amount
        currency = order.currency
        paymentMethod = order.paymentMethod
        description = order.description
        metadata = order.metadata
        createdMicroseconds = Int64((order.createdAt.timeIntervalSince1970 * 1_000_000).rounded())
        eventID = pending.event.id.lowercased
        eventData = pending.event.payload
        envelope = pending.event.envelope
        headers = OutboxHeaders(event: pending.event)
        idempotencyKey = pending.claim?.key
        claim = pending.claim?.token.lowercased
        response = String(decoding: pending.responseBody, as: UTF8.self)
    }

    enum CodingKeys: String, CodingKey {
        case id, merchantID = "merchant_id", amount, currency, paymentMethod = "payment_method", description, metadata
        case createdMicroseconds = "created_us", eventID = "event_id", eventData = "event_data", envelope, headers
        case idempotencyKey = "idempotency_key", claim, response
    }
}
