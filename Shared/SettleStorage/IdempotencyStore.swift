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

    public init(client: PostgresClient, logger: Logger, lockTimeout: Duration = .seconds(60), retention: Duration = .seconds(24 * 3600)) {
        self.client = client
        self.logger = logger
        self.lockTimeout = lockTimeout
        self.retention = retention
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
        // A key stays claimable by one request at a time: the insert wins, or takes over an
        // expired key or an abandoned claim; otherwise the existing row says what to answer.
        for _ in 0..<3 {
            let token = UUID()
            let claim = ClaimKey(merchant: merchant, key: key, method: method, path: path, requestHash: hash, token: token,
                                 lockSeconds: lockSeconds, retentionSeconds: retentionSeconds)
            for try await _ in try await client.execute(claim, logger: logger) {
                return .claimed(IdempotencyClaim(merchant: merchant, key: key, token: token))
            }
            if let existing = try await existing(merchant: merchant, key: key, method: method, path: path, requestHash: requestHash) {
                return existing
            }
            // Released between the two statements: try again.
        }
        return .inFlight
    }

    /// What a request under a key that is already taken gets: the stored answer, a mismatch, or
    /// "in flight" while the first request runs. Nil if the key is free.
    public func existing(merchant: UUID, key: String, method: String, path: String, requestHash: [UInt8]) async throws -> Outcome? {
        for try await stored in try await client.execute(LookupKey(merchant: merchant, key: key), logger: logger) {
            guard stored.method == method, stored.path == path, Array(buffer: stored.requestHash) == requestHash else { return .mismatch }
            guard let status = stored.status, let body = stored.body else { return .inFlight }
            return .replay(status: Int(status), body: Array(buffer: body))
        }
        return nil
    }

    /// The key's stored request and answer; public so a test can check its plan is an index scan.
    public static func lookupQuery(merchant: UUID, key: String) -> PostgresQuery {
        let lookup = LookupKey(merchant: merchant, key: key)
        return PostgresQuery(unsafeSQL: LookupKey.sql, binds: lookup.makeBindings())
    }

    /// Gives the key back after a failure that committed nothing, so the client can retry with it.
    /// A completed key (the request did commit) is left alone.
    public func release(_ claim: IdempotencyClaim) async throws {
        try await client.query("""
            DELETE FROM idempotency_keys
            WHERE merchant_id = \(claim.merchant) AND key = \(claim.key) AND claim = \(claim.token) AND response_status IS NULL
            """, logger: logger)
    }

    /// Stores an answer for a claim outside any other transaction (for answers that changed nothing,
    /// such as a refused refund).
    public func complete(_ claim: IdempotencyClaim, status: Int, body: [UInt8]) async throws {
        try await client.withConnection { connection in
            try await claim.complete(status: status, body: body, on: connection, logger: logger)
        }
    }

    /// Deletes up to `limit` expired keys; returns how many went.
    public func deleteExpired(limit: Int = 10_000) async throws -> Int {
        let rows = try await client.query("""
            DELETE FROM idempotency_keys WHERE ctid IN
                (SELECT ctid FROM idempotency_keys WHERE expires_at < now() LIMIT \(limit))
            RETURNING 1
            """, logger: logger)
        var count = 0
        for try await _ in rows { count += 1 }
        return count
    }
}

/// Claims a key: the insert wins, or takes over an expired key or an abandoned claim. Prepared
/// once per connection, like the lookup, because every idempotent request runs it.
struct ClaimKey: PostgresPreparedStatement {
    static let sql = """
        INSERT INTO idempotency_keys AS k
            (merchant_id, key, request_method, request_path, request_hash, claim, locked_at, created_at, expires_at)
        VALUES ($1, $2, $3, $4, $5, $6, now(), now(), now() + $8 * interval '1 second')
        ON CONFLICT (merchant_id, key) DO UPDATE SET
            request_method = EXCLUDED.request_method, request_path = EXCLUDED.request_path,
            request_hash = EXCLUDED.request_hash, claim = EXCLUDED.claim, locked_at = now(),
            created_at = now(), expires_at = EXCLUDED.expires_at, response_status = NULL, response_body = NULL
        WHERE k.expires_at < now()
           OR (k.response_status IS NULL AND k.locked_at < now() - $7 * interval '1 second')
        RETURNING claim
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

/// The key's stored request and answer.
struct LookupKey: PostgresPreparedStatement {
    static let sql = """
        SELECT request_method, request_path, request_hash, response_status, response_body
        FROM idempotency_keys WHERE merchant_id = $1 AND key = $2
        """
    struct Row {
        var method: String
        var path: String
        var requestHash: ByteBuffer
        var status: Int32?
        var body: ByteBuffer?
    }

    var merchant: UUID
    var key: String

    func makeBindings() -> PostgresBindings {
        var bindings = PostgresBindings(capacity: 2)
        bindings.append(merchant)
        bindings.append(key)
        return bindings
    }

    func decodeRow(_ row: PostgresRow) throws -> Row {
        let (method, path, hash, status, body) = try row.decode((String, String, ByteBuffer, Int32?, ByteBuffer?).self)
        return Row(method: method, path: path, requestHash: hash, status: status, body: body)
    }
}
