import SettleDomain
import SettleRedis

/// How every `settle-api` process learns at once that keys were revoked or rolled: whoever
/// changes a key publishes its SHA-256 (hex; never the key) on one Redis channel, and each
/// process's key cache forgets it. When the message cannot be sent, the caches' short fallback
/// lifetime bounds how long the key is still accepted.
public enum APIKeyRevocations {
    public static let channel = "settle:api-keys:changed"

    /// Publishes the keys' hashes; returns false when Redis could not be told.
    @discardableResult
    public static func publish(_ hashes: [[UInt8]], redis: RedisClient?) async -> Bool {
        guard let redis else { return false }
        do {
            for hash in hashes { try await redis.send(["PUBLISH", channel, Hex.encode(hash)]) }
            return true
        } catch {
            return false
        }
    }
}
