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
            try await connection.query("INSERT INTO api_keys (key_hash, merchant_id) VALUES (\(hash), \(id))", logger: logger)
        }
        return (id, key)
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
