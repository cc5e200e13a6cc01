import Foundation
import Logging
import PostgresNIO

/// `Idempotency-Key` bookkeeping (DESIGN.md contract clause 4): a key is claimed before the
/// request runs, completed with the answer in the request's own transaction, and released if
/// the request failed before anything was committed.
///
/// Claims and releases may run on a client with `synchronous_commit=off`, so a claim costs no
/// fsync of its own. Losing one in a crash is harmless: the request's own transaction updates
/// the claim row and commits durably, which flushes the WAL up to and including the claim; if
/// the claim was lost, that transaction created nothing, and the client's retry claims again.
public struct IdempotencyStore: Sendable {
    let client: PostgresClient
    let logger: Logger
    /// How long a claim without an answer blocks the key before another request may take it over
    /// (a process that died mid-request must not lock the key for 24 h).
    let lockTimeout: Duration
    let retention: Duration
    /// Longest a call may take, lease included; past it the call fails with `DatabaseUnavailable`
    /// and its connection is closed (`PostgresClient.withConnection(deadline:)`).
    let statementDeadline: Duration

    public init(client: PostgresClient, logger: Logger, lockTimeout: Duration = .seconds(60), retention: Duration = .seconds(24 * 3600),
                statementDeadline: Duration = .seconds(5)) {
        self.client = client
        self.logger = logger
        self.lockTimeout = lockTimeout
        self.retention = retention
        self.statementDeadline = statementDeadline
    }

    public enum Outcome: Sendable, Equatable {
        /// This request holds the key: run it, then complete or release the claim.
        case claimed(IdempotencyClaim)
        /// The key answered before: return this status and body as they are.
        case replay(status: Int, body: [UInt8])
        /// The key is held by a request still running.
        case inFlight
        /// The key was used with a different request (method, path or body).
        case mismatch
    }

    /// Claims `key` for a request, or says why it cannot run.
    public func claim(merchant: UUID, key: String, method: String, path: String, requestHash: [UInt8]) async throws -> Outcome {
        let hash = ByteBuffer(bytes: requestHash)
        let lockSeconds = Double(lockTimeout.components.seconds)
        let retentionSeconds = Double(retention.components.seconds)
        return try await client.withConnection(deadline: statementDeadline) { [logger, retention] connection in
            // A key stays claimable by one request at a time: the insert wins, or takes over an
            // expired key or an abandoned claim; otherwise the existing row says what to answer.
            for _ in 0..<3 {
                let token = UUID()
                let claim = ClaimKey(merchant: merchant, key: key, method: method, path: path, requestHash: hash, token: token,
                                     lockSeconds: lockSeconds, retentionSeconds: retentionSeconds)
                for try await _ in try await connection.execute(claim, logger: logger) {
                    return .claimed(IdempotencyClaim(merchant: merchant, key: key, token: token))
                }
                if let existing = try await Self.existing(merchant: merchant, key: key, method: method, path: path, requestHash: requestHash,
                                                          retention: retention, on: connection, logger: logger) {
                    return existing
                }
                // Released between the two statements: try again.
            }
            return .inFlight
        }
    }

    /// What a request under a key that is already taken gets: the stored answer, a mismatch, or
    /// "in flight" while the first request runs. Nil if the key is free.
    public func existing(merchant: UUID, key: String, method: String, path: String, requestHash: [UInt8]) async throws -> Outcome? {
        try await client.withConnection(deadline: statementDeadline) { [logger, retention] connection in
            try await Self.existing(merchant: merchant, key: key, method: method, path: path, requestHash: requestHash,
                                    retention: retention, on: connection, logger: logger)
        }
    }

    private static func existing(
        merchant: UUID, key: String, method: String, path: String, requestHash: [UInt8], retention: Duration,
        on connection: PostgresConnection, logger: Logger
    ) async throws -> Outcome? {
        let rows = try await connection.query(Self.lookupQuery(merchant: merchant, key: key, retention: retention), logger: logger)
        for try await (storedMethod, storedPath, storedHash, status, body) in rows.decode((String, String, ByteBuffer, Int32?, ByteBuffer?).self) {
            guard storedMethod == method, storedPath == path, Array(buffer: storedHash) == requestHash else { return .mismatch }
            guard let status, let body else { return .inFlight }
            return .replay(status: Int(status), body: Array(buffer: body))
        }
        return nil
    }

    /// The key's stored request and answer: its live row, looked for in the partitions of the
    /// retention window (`settle_take_idempotency_keys` looks the same way). Public so a test can
    /// check its plan reads those partitions' indexes.
    ///
    /// Not a prepared statement: a prepared statement's generic plan, made while a day's
    /// partition is new and empty, would scan that partition whole all day as it fills. Planned
    /// with each call's values, it reads each partition's index; it runs only for a key taken
    /// already.
    public static func lookupQuery(merchant: UUID, key: String, retention: Duration = .seconds(24 * 3600)) -> PostgresQuery {
        let retentionSeconds = Double(retention.components.seconds)
        return """
            SELECT request_method, request_path, request_hash, response_status, response_body
            FROM idempotency_keys
            WHERE merchant_id = \(merchant) AND key = \(key) AND expires_at > now()
              AND created_at >= now() - \(retentionSeconds) * interval '1 second' AND created_at < now() + interval '1 minute'
            ORDER BY created_at DESC LIMIT 1
            """
    }

    /// Gives the key back after a failure that committed nothing, so the client can retry with it.
    /// A completed key (the request did commit) is left alone.
    public func release(_ claim: IdempotencyClaim) async throws {
        try await client.withConnection(deadline: statementDeadline) { [logger] connection in
            _ = try await connection.query("""
                DELETE FROM idempotency_keys
                WHERE merchant_id = \(claim.merchant) AND key = \(claim.key) AND claim = \(claim.token) AND response_status IS NULL
                """, logger: logger)
        }
    }

    /// Stores an answer for a claim outside any other transaction (for answers that changed nothing,
    /// such as a refused refund).
    public func complete(_ claim: IdempotencyClaim, status: Int, body: [UInt8]) async throws {
        try await client.withConnection(deadline: statementDeadline) { [logger] connection in
            try await claim.complete(status: status, body: body, on: connection, logger: logger)
        }
    }
}

/// Claims a key through `settle_take_idempotency_keys` (migration 0014), which the batch
/// writer uses too: free, expired, or abandoned past the lock time-out, the key is taken with
/// this claim's token. Prepared once per connection, like the lookup, because every idempotent
/// request runs it. On the claims client the statement commits on its own, which releases the
/// key's lock: the committed claim row is what tells the next request the key is in flight.
struct ClaimKey: PostgresPreparedStatement {
    static let sql = """
        SELECT merchant_id FROM settle_take_idempotency_keys(
            ARRAY[$1::uuid], ARRAY[$2::text], $3, $4, ARRAY[$5::bytea], ARRAY[$6::uuid], NULL, NULL, $7, $8)
        """
    typealias Row = UUID

    var merchant: UUID
    var key: String
    var method: String
    var path: String
    var requestHash: ByteBuffer
    var token: UUID
    var lockSeconds: Double
    var retentionSeconds: Double

    func makeBindings() -> PostgresBindings {
        var bindings = PostgresBindings(capacity: 8)
        bindings.append(merchant)
        bindings.append(key)
        bindings.append(method)
        bindings.append(path)
        bindings.append(requestHash)
        bindings.append(token)
        bindings.append(lockSeconds)
        bindings.append(retentionSeconds)
        return bindings
    }

    func decodeRow(_ row: PostgresRow) throws -> UUID { try row.decode(UUID.self) }
}
