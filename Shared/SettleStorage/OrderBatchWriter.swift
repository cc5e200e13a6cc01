import Foundation
import Logging
import PostgresNIO
import SettleDomain

/// Commits many new orders in one statement, so one transaction (one fsync, with
/// `synchronous_commit=on`) carries a whole batch: each order row, its `order.created` event
/// and outbox row, and the completion of its idempotency claim (DESIGN.md contract clause 1).
///
/// The statement is prepared once per connection and takes the batch as typed arrays, so a
/// batch costs PostgreSQL neither a parse and plan nor a JSON document to read, and the API
/// encodes each order's JSON once: the response body, which is also the event's `data.object`.
public struct OrderBatchWriter: Sendable {
    let client: PostgresClient
    let logger: Logger

    public init(client: PostgresClient, logger: Logger) {
        self.client = client
        self.logger = logger
    }

    /// Inserts the batch in one transaction. Returns the ids of the orders committed; an order
    /// missing from the result lost its idempotency claim and was not created. Throws if the
    /// transaction failed, in which case nothing of the batch was committed (or, if the
    /// connection broke during the COMMIT, the outcome is unknown).
    ///
    /// The statement runs between an explicit BEGIN and COMMIT, although it is one statement.
    /// On its own it would be an implicit transaction, which PostgreSQL commits only at the
    /// protocol's Sync, after it has already sent the statement's CommandComplete, and the
    /// driver returns at CommandComplete: an order could be answered 201 before its commit,
    /// and lost if the server died in between. COMMIT's own CommandComplete comes only once the
    /// commit and its WAL flush are done.
    public func commit(_ batch: [PendingOrder]) async throws -> Set<UUID> {
        try await client.withTransaction(logger: logger) { connection in
            var committed: Set<UUID> = []
            for try await id in try await connection.execute(InsertOrderBatch(batch), logger: logger) {
                committed.insert(id)
            }
            return committed
        }
    }
}

/// The group-commit statement: the data-modifying CTEs commit together or not at all. Arrays
/// cannot hold NULL through the driver, so "no description" is a flag and "no idempotency key"
/// is the empty key (a real key has 1 to 255 characters).
struct InsertOrderBatch: PostgresPreparedStatement {
    static let sql = """
        WITH batch AS (
            SELECT * FROM unnest($1::uuid[], $2::uuid[], $3::bigint[], $4::text[], $5::text[], $6::text[], $7::bool[],
                                 $8::jsonb[], $9::timestamptz[], $10::uuid[], $11::text[], $12::uuid[], $13::text[], $14::text[])
                AS b(id, merchant_id, amount, currency, payment_method, description, has_description,
                     metadata, created_at, event_id, idempotency_key, claim, response, traceparent)
        ),
        claimed AS (
            UPDATE idempotency_keys AS k SET response_status = 201, response_body = convert_to(b.response, 'UTF8')
            FROM batch AS b
            WHERE b.idempotency_key <> '' AND k.merchant_id = b.merchant_id AND k.key = b.idempotency_key
              AND k.claim = b.claim AND k.response_status IS NULL
            RETURNING b.id
        ),
        accepted AS (
            SELECT *, jsonb_build_object('object', response::jsonb) AS data
            FROM batch WHERE idempotency_key = '' OR id IN (SELECT id FROM claimed)
        ),
        new_orders AS (
            INSERT INTO orders (id, merchant_id, amount, currency, payment_method, description, metadata, status, created_at, updated_at)
            SELECT id, merchant_id, amount, currency, payment_method, CASE WHEN has_description THEN description END,
                   metadata, 'pending', created_at, created_at
            FROM accepted
            RETURNING id
        ),
        new_events AS (
            INSERT INTO events (id, merchant_id, order_id, type, data, created_at)
            SELECT event_id, merchant_id, id, 'order.created', data, created_at
            FROM accepted
            RETURNING id
        )
        INSERT INTO outbox (event_id, topic, key, payload, headers, created_at)
        SELECT event_id, $15, id::text, settle_event_envelope(event_id, 'order.created', merchant_id, created_at, data),
               settle_outbox_headers(event_id, 'order.created', traceparent), created_at
        FROM accepted
        RETURNING key::uuid
        """

    typealias Row = UUID
    /// The claim token of an order without an idempotency key (never compared: its key is empty).
    static let noClaim = UUID(uuidString: "00000000-0000-0000-0000-000000000000")!

    var ids: [UUID] = []
    var merchants: [UUID] = []
    var amounts: [Int64] = []
    var currencies: [String] = []
    var paymentMethods: [String] = []
    var descriptions: [String] = []
    var hasDescription: [Bool] = []
    var metadata: [String] = []
    var createdAt: [Date] = []
    var eventIDs: [UUID] = []
    var idempotencyKeys: [String] = []
    var claims: [UUID] = []
    var responses: [String] = []
    var traceparents: [String] = []

    init(_ batch: [PendingOrder]) {
        for pending in batch {
            let order = pending.order
            ids.append(order.id)
            merchants.append(order.merchantID)
            amounts.append(order.amount)
            currencies.append(order.currency)
            paymentMethods.append(order.paymentMethod)
            descriptions.append(order.description ?? "")
            hasDescription.append(order.description != nil)
            metadata.append(order.metadata.isEmpty ? "{}" : String(decoding: SettleJSON.bytes(order.metadata), as: UTF8.self))
            createdAt.append(order.createdAt)
            eventIDs.append(pending.eventID)
            idempotencyKeys.append(pending.claim?.key ?? "")
            claims.append(pending.claim?.token ?? Self.noClaim)
            responses.append(String(decoding: pending.responseBody, as: UTF8.self))
            traceparents.append(TraceParent.random())
        }
    }

    func makeBindings() throws -> PostgresBindings {
        var bindings = PostgresBindings(capacity: 15)
        bindings.append(ids)
        bindings.append(merchants)
        bindings.append(amounts)
        bindings.append(currencies)
        bindings.append(paymentMethods)
        bindings.append(descriptions)
        bindings.append(hasDescription)
        bindings.append(metadata)
        bindings.append(createdAt)
        bindings.append(eventIDs)
        bindings.append(idempotencyKeys)
        bindings.append(claims)
        bindings.append(responses)
        bindings.append(traceparents)
        bindings.append(KafkaTopics.orders)
        return bindings
    }

    func decodeRow(_ row: PostgresRow) throws -> UUID {
        try row.decode(UUID.self)
    }
}
