import Foundation

/// A webhook endpoint's signing secret (Standard Webhooks): `whsec_` and 32 random bytes in
/// base64. The bytes are the HMAC-SHA256 key; the text is shown to the merchant once.
public enum WebhookSecret {
    public static let prefix = "whsec_"

    public static func generate() -> String {
        var generator = SystemRandomNumberGenerator()
        let bytes = (0..<32).map { _ in UInt8.random(in: 0...255, using: &generator) }
        return prefix + Data(bytes).base64EncodedString()
    }

    /// The HMAC key of a secret, or nil if it is not one.
    public static func key(_ secret: String) -> [UInt8]? {
        guard secret.hasPrefix(prefix), let data = Data(base64Encoded: String(secret.dropFirst(prefix.count))) else { return nil }
        return Array(data)
    }
}
