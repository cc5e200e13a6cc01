import Foundation
import Logging
import PostgresNIO

/// The right, held by one request, to run under an `Idempotency-Key` and store its answer.
/// The token guards completion: a request whose claim was taken over after the lock time-out
/// cannot store an answer (or create anything) any more.
public struct IdempotencyClaim: Sendable, Equatable {
    public var merchant: UUID
    public var key: String
    public var token: UUID

    public init(merchant: UUID, key: String, token: UUID) {
        self.merchant = merchant
        self.key = key
        self.token = token
    }

    /// Stores the answer inside the caller's transaction; throws `IdempotencyClaimLost` (rolling
    /// the transaction back) when the claim is no longer this request's.
    func complete(status: Int, body: [UInt8], on connection: PostgresConnection, logger: Logger) async throws {
        let body = ByteBuffer(bytes: body)
        let status = Int32(status)
        let rows = try await connection.query("""
            UPDATE idempotency_keys SET response_status = \(status), response_body = \(body)
            WHERE merchant_id = \(merchant) AND key = \(key) AND claim = \(token) AND response_status IS NULL
            RETURNING 1
            """, logger: logger)
        var completed = false
        for try await _ in rows { completed = true }
        if !completed { throw IdempotencyClaimLost() }
    }
}

/// The request held its `Idempotency-Key` longer than the lock time-out and another request took it.
public struct IdempotencyClaimLost: Error {
    public init() {}
}
