import Crypto
import Foundation

/// Standard Webhooks signatures: `v1,<base64 HMAC-SHA256 of "id.timestamp.body">`, one per
/// signing secret, space-separated (during a secret's rotation both sign).
public enum WebhookSignature {
    public static func header(id: String, timestamp: Int64, body: [UInt8], secrets: [String]) -> String {
        let signed = Array("\(id).\(timestamp).".utf8) + body
        return secrets.compactMap { secret -> String? in
            guard let key = WebhookSecret.key(secret) else { return nil }
            let mac = HMAC<SHA256>.authenticationCode(for: signed, using: SymmetricKey(data: key))
            return "v1," + Data(mac).base64EncodedString()
        }
        .joined(separator: " ")
    }

    /// Whether `header` carries a valid signature of the message under `secret`, and its
    /// timestamp is within `tolerance` of `now` (a receiver's replay protection).
    public static func verify(id: String, timestamp: Int64, body: [UInt8], header: String, secret: String,
                              now: Date = Date(), tolerance: TimeInterval = 300) -> Bool {
        guard abs(now.timeIntervalSince1970 - Double(timestamp)) <= tolerance,
              let key = WebhookSecret.key(secret) else { return false }
        let signed = Array("\(id).\(timestamp).".utf8) + body
        for candidate in header.split(separator: " ") where candidate.hasPrefix("v1,") {
            guard let mac = Data(base64Encoded: String(candidate.dropFirst(3))) else { continue }
            if HMAC<SHA256>.isValidAuthenticationCode(mac, authenticating: signed, using: SymmetricKey(data: key)) { return true }
        }
        return false
    }
}
