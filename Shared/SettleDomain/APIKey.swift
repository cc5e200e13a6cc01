import Crypto

/// Merchant API keys: `sk_` and 32 random bytes in hex, shown once; only the SHA-256 is stored.
public enum APIKey {
    public static let prefix = "sk_"

    public static func generate() -> String {
        var generator = SystemRandomNumberGenerator()
        let bytes = (0..<32).map { _ in UInt8.random(in: 0...255, using: &generator) }
        return prefix + Hex.encode(bytes)
    }

    /// What `api_keys.key_hash` holds.
    public static func hash(_ key: String) -> [UInt8] {
        Array(SHA256.hash(data: Array(key.utf8)))
    }
}
