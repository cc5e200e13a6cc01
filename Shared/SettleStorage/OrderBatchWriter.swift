import Foundation
import Logging
import PostgresNIO
import SettleDomain

/// Commits many new orders in one statement, so one transaction (one fsync, with
/// `synchronous_commit=on`) carries a whole batch: each order row, its `order.created` event
/// and outbox row, and its `Idempotency-Key` with the answer (DESIGN.md contract clauses 1
/// and 4).
///
/// The key is taken in the same statement that creates the order, so an order costs one
/// round trip and one transaction, and there is no moment when a key is taken but its order
/// not yet written: a key is either free or holds its 201. A second request with the key
/// waits on the first one's lock on it until that commits, then finds the key taken and is
/// answered from it (`IdempotencyStore.existing`).
///
/// The statement is prepared once per connection and takes the batch as typed arrays, so a
/// batch costs PostgreSQL neither a parse and plan nor a JSON document to read, and the API
/// encodes each order's JSON once: the response body, which is also the event's `data.object`.
public struct OrderBatchWriter: Sendable {
    /// The request a key of this writer belongs to: every order it writes was `POST /v1/orders`.
    public static let keyMethod = "POST"
    public static let keyPath = "/v1/orders"

    let client: PostgresClient
    let logger: Logger
    let keyLockTimeout: Duration
    let keyRetention: Duration

    /// - Parameters:
    ///   - keyLockTimeout: a key whose request never finished (claimed by another endpoint and
    ///     abandoned) may be taken over after this long, as in `IdempotencyStore`.
    ///   - keyRetention: how long a key keeps its answer.
    public init(client: PostgresClient, logger: Logger, keyLockTimeout: Duration = .seconds(60),
                keyRetention: Duration = .seconds(24 * 3600)) {
        self.client = client
        self.logger = logger
        self.keyLockTimeout = keyLockTimeout
        self.keyRetention = keyRetention
    }

    /// Inserts the batch in one transaction. Returns the ids of the orders created; an order
    /// missing from the result was not created because its idempotency key was already taken.
    /// The batch must not use one key twice; its keys' method and path must be `keyMethod` and
    /// `keyPath`. Throws if the transaction failed, in which case
    /// nothing of the batch was committed (or, if the connection broke during the COMMIT, the
    /// outcome is unknown).
    ///
    /// The statement runs between an explicit BEGIN and COMMIT, although it is one statement.
    /// On its own it would be an implicit transaction, which PostgreSQL commits only at the
    /// protocol's Sync, after it has already sent the statement's CommandComplete, and the
    /// driver returns at CommandComplete: an order could be answered 201 before its commit,
    /// and lost if the server died in between. COMMIT's own CommandComplete comes only once the
    /// commit and its WAL flush are done.
    ///
    /// The deadlines are `PostgresClient.withTransaction(deadline:waitOnceSent:outcomeWait:closeAfter:logger:_:)`'s:
    /// a batch not sent within `deadline` throws `DatabaseUnavailable` and is never sent; one sent
    /// and not answered `outcomeWait` later throws `OutcomeUnknown`, and its connection is closed
    /// as silent if it is still unanswered `closeAfter` after that.
    public func commit(_ batch: [PendingOrder], deadline: Duration, outcomeWait: Duration,
                       closeAfter: Duration) async throws -> Set<UUID> {
        let statement = InsertOrderBatch(batch, keyLockTimeout: keyLockTimeout, keyRetention: keyRetention)
        return try await client.withTransaction(deadline: deadline, waitOnceSent: true, outcomeWait: outcomeWait, closeAfter: closeAfter,
                                                logger: logger) { [logger] connection in
            var committed: Set<UUID> = []
            for try await id in try await connection.execute(statement, logger: logger) {
                committed.insert(id)
            }
            return committed
        }
    }
}

/// The group-commit statement: the data-modifying CTEs commit together or not at all. Arrays
/// cannot hold NULL through the driver, so "no description" is a flag and "no idempotency key"
/// is the empty key (a real key has 1 to 255 characters). Each outbox row's payload and
/// headers come written (migration 0015): PostgreSQL parses only the event's `data`.
///
/// A key is taken with its answer by `settle_take_idempotency_keys` (migration 0014), as
/// `IdempotencyStore.claim` takes one: free, expired, or a claim abandoned past the lock
/// time-out; a key still taken leaves its order out of `accepted`. The function locks the
/// batch's keys until the COMMIT, so a second request with one of them waits for it.
struct InsertOrderBatch: PostgresPreparedStatement {
    static let sql = """
        WITH batch AS (
            SELECT * FROM unnest($1::uuid[], $2::uuid[], $3::bigint[], $4::text[], $5::text[], $6::text[], $7::bool[],
                                 $8::jsonb[], $9::timestamptz[], $10::uuid[], $11::text[], $12::bytea[], $13::text[], $14::text[],
                                 $20::text[])
                AS b(id, merchant_id, amount, currency, payment_method, description, has_description,
                     metadata, created_at, event_id, idempotency_key, request_hash, response, headers, envelope)
        ),
        keyed AS (
            SELECT taken.* FROM (
                SELECT array_agg(merchant_id) AS merchants, array_agg(idempotency_key) AS keys, array_agg(request_hash) AS hashes,
                       array_agg(convert_to(response, 'UTF8')) AS bodies
                FROM batch WHERE idempotency_key <> ''
            ) k, settle_take_idempotency_keys(k.merchants, k.keys, $18, $19, k.hashes, NULL, 201, k.bodies, $17, $16) AS taken
        ),
        accepted AS (
            SELECT *, jsonb_build_object('object', response::jsonb) AS data
            FROM batch WHERE idempotency_key = '' OR (merchant_id, idempotency_key) IN (SELECT merchant_id, key FROM keyed)
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
        SELECT event_id, $15, id::text, envelope, headers, created_at
        FROM accepted
        RETURNING key::uuid
        """

    typealias Row = UUID

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
    var requestHashes: [ByteBuffer] = []
    var responses: [String] = []
    var headers: [String] = []
    var envelopes: [String] = []
    var keyRetentionSeconds: Double
    var keyLockSeconds: Double

    init(_ batch: [PendingOrder], keyLockTimeout: Duration, keyRetention: Duration) {
        keyLockSeconds = Double(keyLockTimeout.components.seconds)
        keyRetentionSeconds = Double(keyRetention.components.seconds)
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
            idempotencyKeys.append(pending.idempotencyKey?.key ?? "")
            requestHashes.append(ByteBuffer(bytes: pending.idempotencyKey?.requestHash ?? []))
            let response = String(decoding: pending.responseBody, as: UTF8.self)
            responses.append(response)
            headers.append(Self.headers(eventID: pending.eventID, traceparent: pending.traceparent))
            envelopes.append(Self.envelope(eventID: pending.eventID, order: order, json: response))
        }
    }

    /// The Kafka message of an order's `order.created` event: the envelope
    /// `{id, type, version, occurred_at, merchant_id, data}` that `settle_event_envelope` writes for
    /// every other event, around the order's JSON as the API answered it. Every value put in
    /// here is a UUID, a constant or a time, so none needs escaping.
    static func envelope(eventID: UUID, order: Order, json: String) -> String {
        #"{"id":"\#(eventID.lowercased)","type":"\#(EventType.orderCreated.rawValue)","version":1,"occurred_at":"\#(occurredAt.format(order.createdAt))","merchant_id":"\#(order.merchantID.lowercased)","data":{"object":\#(json)}}"#
    }

    /// The message's headers, as `settle_outbox_headers` writes them. A `traceparent` that is not
    /// the W3C form (lower-case hex and dashes) is replaced by a new trace's, so nothing in it
    /// needs escaping either.
    static func headers(eventID: UUID, traceparent: String?) -> String {
        let trace = traceparent.flatMap { value in
            value.utf8.count == 55 && value.utf8.allSatisfy { (0x30...0x39).contains($0) || (0x61...0x66).contains($0) || $0 == 0x2D } ? value : nil
        } ?? TraceParent.random()
        return #"{"event-id":"\#(eventID.lowercased)","event-type":"\#(EventType.orderCreated.rawValue)","traceparent":"\#(trace)"}"#
    }

    /// `occurred_at`: UTC, to the millisecond (truncated, as PostgreSQL's `to_char` writes it).
    private static let occurredAt = Date.ISO8601FormatStyle(includingFractionalSeconds: true, timeZone: .gmt)

    func makeBindings() throws -> PostgresBindings {
        var bindings = PostgresBindings(capacity: 20)
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
        bindings.append(requestHashes)
        bindings.append(responses)
        bindings.append(headers)
        bindings.append(KafkaTopics.orders)
        bindings.append(keyRetentionSeconds)
        bindings.append(keyLockSeconds)
        bindings.append(OrderBatchWriter.keyMethod)
        bindings.append(OrderBatchWriter.keyPath)
        bindings.append(envelopes)
        return bindings
    }

    func decodeRow(_ row: PostgresRow) throws -> UUID {
        try row.decode(UUID.self)
    }
}
