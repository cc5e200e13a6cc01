import Foundation
import Logging
import PostgresNIO
import SettleDomain

/// Merchants, made with their first API key (`APIKeyStore` keeps the keys after that).
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
                INSERT INTO api_keys (id, key_hash, merchant_id, last4) VALUES (\(UUIDv7.make()), \(hash), \(id), \(String(key.suffix(4))))
                """, logger: logger)
        }
        return (id, key)
    }

    public func exists(_ id: UUID) async throws -> Bool {
        for try await found in try await client.query("SELECT EXISTS (SELECT 1 FROM merchants WHERE id = \(id))", logger: logger)
            .decode(Bool.self) { return found }
        return false
    }
}
