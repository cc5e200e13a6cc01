import Foundation
import Logging
import NIOCore
import PostgresNIO

/// Everything the card-processor simulator did, in a PostgreSQL schema of its own, so it
/// survives the simulator's restart (DESIGN.md "The card-processor simulator": "It keeps what it
/// did in a store that survives its own restart").
///
/// The schema is not one of Settle's migrations: the simulator stands in for a separate system,
/// so it creates its own tables at start. Every table name is qualified with the validated
/// schema name; every value is a bound parameter.
struct ProcessorStore: Sendable {
    let client: PostgresClient
    let schema: ProcessorSchemaName
    let logger: Logger

    /// Creates the schema and its tables if they are missing. Simulators starting at the same
    /// moment on one database take turns on an advisory lock: `CREATE … IF NOT EXISTS` alone
    /// races on the catalog's unique indexes.
    func prepare() async throws {
        let s = schema.description
        try await client.withTransaction(logger: logger) { connection in
            try await connection.query("SELECT pg_advisory_xact_lock(hashtext(\("settle-processor." + s)))", logger: logger)
            try await connection.query("CREATE SCHEMA IF NOT EXISTS \(unescaped: s)", logger: logger)
            try await connection.query("""
                CREATE TABLE IF NOT EXISTS \(unescaped: s).idempotency_keys (
                    endpoint text NOT NULL,
                    key text NOT NULL,
                    order_id uuid NOT NULL,
                    status integer NOT NULL,
                    body bytea NOT NULL,
                    created_at timestamptz NOT NULL DEFAULT now(),
                    PRIMARY KEY (endpoint, key)
                )
                """, logger: logger)
            for endpoint in [ProcessorEndpoint.charges, .refunds] {
                try await connection.query("""
                    CREATE TABLE IF NOT EXISTS \(unescaped: s).\(unescaped: endpoint.table) (
                        id text PRIMARY KEY,
                        order_id uuid NOT NULL,
                        amount bigint NOT NULL,
                        currency text NOT NULL,
                        idempotency_key text NOT NULL,
                        created_at timestamptz NOT NULL DEFAULT now()
                    )
                    """, logger: logger)
                try await connection.query("""
                    CREATE INDEX IF NOT EXISTS \(unescaped: endpoint.table)_order_id ON \(unescaped: s).\(unescaped: endpoint.table) (order_id)
                    """, logger: logger)
            }
            // Per-order request counters: every call, and the tries `pm_card_flaky` has failed.
            try await connection.query("""
                CREATE TABLE IF NOT EXISTS \(unescaped: s).orders (
                    order_id uuid PRIMARY KEY,
                    calls bigint NOT NULL DEFAULT 0,
                    flaky_attempts integer NOT NULL DEFAULT 0
                )
                """, logger: logger)
        }
    }

    /// Counts a request for the order, in a statement of its own: it stays counted whatever
    /// happens to the request afterwards (503, dropped connection, replay).
    func countCall(orderID: UUID) async throws {
        try await client.query("""
            INSERT INTO \(unescaped: schema.description).orders AS o (order_id, calls) VALUES (\(orderID), 1)
            ON CONFLICT (order_id) DO UPDATE SET calls = o.calls + 1
            """, logger: logger)
    }

    /// The try number of this `pm_card_flaky` charge for the order (1 for the first).
    func nextFlakyAttempt(orderID: UUID) async throws -> Int {
        let rows = try await client.query("""
            INSERT INTO \(unescaped: schema.description).orders AS o (order_id, flaky_attempts) VALUES (\(orderID), 1)
            ON CONFLICT (order_id) DO UPDATE SET flaky_attempts = o.flaky_attempts + 1
            RETURNING flaky_attempts
            """, logger: logger)
        for try await attempt in rows.decode(Int32.self) { return Int(attempt) }
        return 1
    }

    /// The answer stored for the key, if any.
    func storedAnswer(_ endpoint: ProcessorEndpoint, key: String) async throws -> ProcessorStoredAnswer? {
        let rows = try await client.query("""
            SELECT order_id, status, body FROM \(unescaped: schema.description).idempotency_keys
            WHERE endpoint = \(endpoint.rawValue) AND key = \(key)
            """, logger: logger)
        for try await (orderID, status, body) in rows.decode((UUID, Int32, ByteBuffer).self) {
            return ProcessorStoredAnswer(orderID: orderID, answer: ProcessorAnswer(status: Int(status), body: Array(buffer: body)))
        }
        return nil
    }

    /// Stores a final answer under its key and moves the money, in one transaction.
    ///
    /// The key is inserted first with `ON CONFLICT DO NOTHING`: a concurrent request with the
    /// same key waits on that insert until the first commits, then inserts nothing and replays
    /// what the first stored, so twenty simultaneous tries charge once. A refund then locks the
    /// order's row, so two refunds with different keys cannot both take the last charge.
    ///
    /// - Throws: `ProcessorError` 409 `charge_not_found` for a refund when the order has no
    ///   charge left to refund (refunds ≥ charges); nothing is stored then.
    func record(_ endpoint: ProcessorEndpoint, key: String, orderID: UUID, answer: ProcessorAnswer,
                movement: ProcessorMovement?) async throws -> ProcessorRecordOutcome {
        let s = schema.description
        let inserted: Bool
        do {
            inserted = try await client.withTransaction(logger: logger) { connection in
                let rows = try await connection.query("""
                    INSERT INTO \(unescaped: s).idempotency_keys (endpoint, key, order_id, status, body)
                    VALUES (\(endpoint.rawValue), \(key), \(orderID), \(Int32(answer.status)), \(ByteBuffer(bytes: answer.body)))
                    ON CONFLICT (endpoint, key) DO NOTHING
                    RETURNING 1
                    """, logger: logger)
                var inserted = false
                for try await _ in rows { inserted = true }
                guard inserted else { return false }
                if endpoint == .refunds {
                    try await requireRefundableCharge(orderID: orderID, on: connection)
                }
                if let movement {
                    try await connection.query("""
                        INSERT INTO \(unescaped: s).\(unescaped: movement.endpoint.table) (id, order_id, amount, currency, idempotency_key)
                        VALUES (\(movement.id), \(movement.orderID), \(movement.amount), \(movement.currency), \(key))
                        """, logger: logger)
                }
                return true
            }
        } catch let error as PostgresTransactionError {
            if let answer = error.closureError as? ProcessorError { throw answer }
            throw error
        }
        if inserted { return .recorded }
        guard let stored = try await storedAnswer(endpoint, key: key) else {
            // The row that blocked the insert is committed, so it is there to read.
            throw ProcessorError.unavailable("The answer stored for this Idempotency-Key could not be read; try again.")
        }
        return .existing(stored)
    }

    /// `GET /charges/{order_id}`; an order never seen is all zeros.
    func counts(orderID: UUID) async throws -> ProcessorOrderCounts {
        let s = schema.description
        let rows = try await client.query("""
            SELECT (SELECT count(*) FROM \(unescaped: s).charges WHERE order_id = \(orderID)),
                   (SELECT count(*) FROM \(unescaped: s).refunds WHERE order_id = \(orderID)),
                   coalesce((SELECT calls FROM \(unescaped: s).orders WHERE order_id = \(orderID)), 0)
            """, logger: logger)
        for try await (charges, refunds, calls) in rows.decode((Int64, Int64, Int64).self) {
            return ProcessorOrderCounts(orderID: orderID, charges: charges, refunds: refunds, calls: calls)
        }
        return ProcessorOrderCounts(orderID: orderID, charges: 0, refunds: 0, calls: 0)
    }

    private func requireRefundableCharge(orderID: UUID, on connection: PostgresConnection) async throws {
        let s = schema.description
        // The upsert takes the order row's lock (and creates the row if a caller skipped countCall).
        try await connection.query("""
            INSERT INTO \(unescaped: s).orders AS o (order_id) VALUES (\(orderID))
            ON CONFLICT (order_id) DO UPDATE SET calls = o.calls
            """, logger: logger)
        let rows = try await connection.query("""
            SELECT (SELECT count(*) FROM \(unescaped: s).charges WHERE order_id = \(orderID)),
                   (SELECT count(*) FROM \(unescaped: s).refunds WHERE order_id = \(orderID))
            """, logger: logger)
        var refundable = false
        for try await (charges, refunds) in rows.decode((Int64, Int64).self) { refundable = refunds < charges }
        guard refundable else {
            throw ProcessorError(409, code: "charge_not_found", message: "Order \(orderID.uuidString.lowercased()) has no charge left to refund.")
        }
    }
}
