import Foundation
import Logging
import PostgresNIO
import SettleDomain

/// Merchants and their API keys.
public struct MerchantStore: Sendable {
    let client: PostgresClient
    let logger: Logger

    public init(client: PostgresClient, logger: Logger) {
        self.client = client
        self.logger = logger
    }

    /// Creates a merchant with one API key; the key is returned here and nowhere else.
    public func create(name: String) async throws -> (id: UUID, apiKey: String) {
        let id = UUIDv7.make()
        let key = APIKey.generate()
        let hash = ByteBuffer(bytes: APIKey.hash(key))
        try await client.withTransaction(logger: logger) { connection in
            try await connection.query("INSERT INTO merchants (id, name) VALUES (\(id), \(name))", logger: logger)
            try await connection.query("""
                INSERT INTO api_keys (key_hash, merchant_id, last4) VALUES (\(hash), \(id), \(String(key.suffix(4))))
                """, logger: logger)
        }
        return (id, key)
    }

    /// The merchant's API keys, newest first (at most 100: keys are few).
    public func keys(merchant: UUID) async throws -> [APIKeyRecord] {
        var keys: [APIKeyRecord] = []
        for try await (id, last4, created, expires, revoked, lastUsed) in try await client.query("""
            SELECT id, last4, created_at, expires_at, revoked_at, last_used_at FROM api_keys
            WHERE merchant_id = \(merchant) ORDER BY created_at DESC, id LIMIT 100
            """, logger: logger).decode((UUID, String?, Date, Date?, Date?, Date?).self) {
            keys.append(APIKeyRecord(id: id, last4: last4, createdAt: created, expiresAt: expires, revokedAt: revoked, lastUsedAt: lastUsed))
        }
        return keys
    }

    /// The merchant a (hashed) key belongs to, if the key exists and is not revoked.
    public func merchant(keyHash: [UInt8]) async throws -> UUID? {
        let hash = ByteBuffer(bytes: keyHash)
        let rows = try await client.query(
            "SELECT merchant_id FROM api_keys WHERE key_hash = \(hash) AND revoked_at IS NULL", logger: logger)
        for try await id in rows.decode(UUID.self) { return id }
        return nil
    }
}
